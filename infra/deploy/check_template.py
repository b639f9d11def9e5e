"""Offline template check: SAM transform with aws-sam-translator, then cfn-lint on the result.

`python -m infra.deploy.check_template` exits non-zero with the findings if either step fails.
cfn-lint on template.yaml itself runs in `make lint` too; this catches what only shows
after the transform (generated permissions, event source mappings, API stages).
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]


def transformed_template(path: pathlib.Path = ROOT / "template.yaml") -> dict:
    import boto3
    from cfnlint.decode import decode_str
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template, matches = decode_str(path.read_text())
    if matches:
        raise SystemExit("\n".join(str(m) for m in matches))
    # decode_str gives str subclasses with line marks; a JSON round trip makes them plain.
    plain = json.loads(json.dumps(template))
    # What `sam package` does after uploading: local folders become S3 locations.
    for resource in plain["Resources"].values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://packaged-artifacts/{props[key].strip('/')}.zip"
    # A session with a region and no credentials: the translator only reads the region.
    # The template names no AWS managed policies, so the policy map is empty (no IAM call).
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    return translator.translate(plain, parameter_values={}, get_managed_policy_map=dict)


def lint(template: dict) -> list[str]:
    from cfnlint.api import lint_file

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as out:
        json.dump(template, out, indent=1)
    try:
        return [str(m) for m in lint_file(pathlib.Path(out.name))]
    finally:
        pathlib.Path(out.name).unlink()


def main() -> int:
    template = transformed_template()
    findings = lint(template)
    for finding in findings:
        print(finding)
    resources = template["Resources"]
    print(f"SAM transform: {len(resources)} CloudFormation resources; cfn-lint findings: {len(findings)}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
