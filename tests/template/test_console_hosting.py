"""The consoles deployed as `make run` serves them: CloudFront in front of a private bucket
(/console/*) and the REST API's stage (everything else, uncached), on one origin; security
headers the consoles' own files keep to."""
from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest

from infra import consoles
from infra.local.template import Template

ROOT = pathlib.Path(__file__).resolve().parents[2]
HOSTING = ("ConsolesBucket", "ConsolesBucketPolicy", "ConsolesOriginAccessControl", "ConsoleIndexFunction",
           "ConsoleHeadersPolicy", "ConsoleDistribution")
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"


def template(**parameters: str) -> Template:
    return Template.from_file(ROOT / "template.yaml", parameters=parameters)


def resolved(t: Template) -> dict[str, dict]:
    """Every resource's properties, with stand-ins for what AWS would name."""
    physical: dict[str, dict] = {}
    for lid in t.creation_order():
        physical[lid] = {"Ref": f"ref-{lid}", "Arn": f"arn:{lid}", "Id": f"id-{lid}",
                         "RegionalDomainName": f"{lid}.s3.us-east-1.amazonaws.com",
                         "FunctionMetadata.FunctionARN": f"arn:function:{lid}", "DomainName": f"{lid}.example"}
    return {lid: t.resolve_properties(lid, physical) for lid in HOSTING}


@pytest.mark.parametrize(("parameters", "hosted"), [
    ({}, False),                                          # dev stacks: none by default
    ({"Stage": "test"}, True), ({"Stage": "prod"}, True),
    ({"Stage": "prod", "ConsoleHosting": "off"}, False),
    ({"Stage": "dev", "ConsoleHosting": "on"}, True),
])
def test_the_consoles_are_hosted_where_the_stack_says(parameters, hosted):
    t = template(**parameters)
    assert {lid for lid in HOSTING if lid in t.resources} == (set(HOSTING) if hosted else set())


@pytest.fixture(scope="module")
def prod():
    return resolved(template(Stage="prod"))


def test_the_bucket_is_private_and_encrypted_and_read_only_by_this_distribution(prod):
    bucket = prod["ConsolesBucket"]
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    statements = prod["ConsolesBucketPolicy"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    allow = allows[0]
    assert allow["Principal"] == {"Service": "cloudfront.amazonaws.com"} and allow["Action"] == "s3:GetObject"
    assert allow["Resource"] == "arn:ConsolesBucket/console/*"
    assert allow["Condition"] == {"StringEquals": {
        "AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/ref-ConsoleDistribution"}}
    assert all(s["Effect"] == "Deny" for s in statements if s is not allow)


def test_console_paths_go_to_the_bucket_and_the_rest_to_the_api_stage_uncached(prod):
    config = prod["ConsoleDistribution"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    api, bucket = origins["api"], origins["consoles"]
    assert api["DomainName"] == "ref-HospitalApi.execute-api.us-east-1.amazonaws.com"
    assert api["OriginPath"] == "/prod"
    assert api["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert bucket["DomainName"] == "ConsolesBucket.s3.us-east-1.amazonaws.com"
    assert bucket["OriginAccessControlId"] == "id-ConsolesOriginAccessControl"

    default = config["DefaultCacheBehavior"]
    assert default["TargetOriginId"] == "api" and default["ViewerProtocolPolicy"] == "https-only"
    assert set(default["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert (default["CachePolicyId"], default["OriginRequestPolicyId"]) == (CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST)

    [console] = config["CacheBehaviors"]
    assert console["PathPattern"] == "/console/*" and console["TargetOriginId"] == "consoles"
    assert console["AllowedMethods"] == ["GET", "HEAD"]
    assert console["ViewerProtocolPolicy"] in ("https-only", "redirect-to-https")
    assert console["ResponseHeadersPolicyId"] == "ref-ConsoleHeadersPolicy"
    assert console["FunctionAssociations"] == [{"EventType": "viewer-request",
                                                "FunctionARN": "arn:function:ConsoleIndexFunction"}]


def csp(prod) -> dict[str, list[str]]:
    text = prod["ConsoleHeadersPolicy"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"][
        "ContentSecurityPolicy"]["ContentSecurityPolicy"]
    assert "\n" not in text
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in text.split(";")) if d}


def test_the_consoles_may_reach_their_own_origin_and_the_live_api_only(prod):
    policy = csp(prod)
    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", "wss://ref-LiveApi.execute-api.us-east-1.amazonaws.com"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    headers = prod["ConsoleHeadersPolicy"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    assert headers["FrameOptions"]["FrameOption"] == "DENY" and headers["ContentTypeOptions"]["Override"]


def console_sources(suffix: str) -> list[tuple[str, str]]:
    return [(p.relative_to(consoles.FOLDER).as_posix(), p.read_text()) for p in consoles.FOLDER.rglob(f"*{suffix}")]


def test_the_consoles_files_keep_to_their_content_security_policy():
    """script-src and style-src 'self': no inline script, handler attribute, style element or
    style attribute (el() sets styles through the CSSOM, which the policy allows); nothing
    loaded from another origin."""
    pages, scripts = console_sources(".html"), console_sources(".js")
    assert pages and scripts
    for name, text in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{name}: inline <script>"
        assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", text, re.I), f"{name}: inline style or handler"
    for name, text in pages + scripts + console_sources(".css"):
        assert not re.search(r"""(src|href|import|url)\s*[=(]?\s*["']?(https?:)?//""", text), \
            f"{name}: loads from another origin"
    for name, text in scripts:
        assert not re.search(r"""setAttribute\(\s*["']style|\.innerHTML\s*=|\beval\(|new Function\(""", text), \
            f"{name}: inline style or code the policy refuses"


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the CloudFront function's JavaScript")
def test_a_console_folder_is_its_index_and_a_folder_without_its_slash_is_sent_to_it(prod):
    code = template(Stage="prod").resources["ConsoleIndexFunction"].properties["FunctionCode"]
    calls = ["/console/ed/", "/console/ed", "/console/shared/api.js", "/console/admin/"]
    runner = code + f"""
        console.log(JSON.stringify({json.dumps(calls)}.map(uri => handler({{request: {{uri: uri}}}}))));"""
    answers = json.loads(subprocess.run(["node", "-e", runner], capture_output=True, text=True, check=True).stdout)
    assert answers[0] == {"uri": "/console/ed/index.html"}
    assert answers[1]["statusCode"] == 301 and answers[1]["headers"]["location"]["value"] == "/console/ed/"
    assert answers[2] == {"uri": "/console/shared/api.js"}
    assert answers[3] == {"uri": "/console/admin/index.html"}
