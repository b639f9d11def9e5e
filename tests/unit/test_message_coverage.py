"""Every message the layer publishes is handled by a consumer function that template.yaml
attaches to the message's queue, and every message a consumer handles has a producer: a
publish nobody reads, a consumer waiting for nothing or a renamed case step fails here.

Found statically, without a database: producers by scanning the code for `publish(...)`
calls (each must construct a declared message in the call, so the scan sees its class),
consumers by following each SQS function of template.yaml to the Consumer its handler runs.
"""
import ast
import importlib
import pathlib

import pytest

from hospital import messages, outbox
from hospital.messaging import Consumer
from hospital.rescue import dispatch, timeline
from hospital.rescue.messages import CaseChanged
from infra.local.template import load_template

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers/common/python"


def declared() -> dict[str, type]:
    """The layer's message classes by name (importing each messages module declares them)."""
    for path in (LAYER / "hospital").rglob("messages.py"):
        importlib.import_module(".".join(path.relative_to(LAYER).with_suffix("").parts))
    classes = {cls for cls in messages.REGISTRY.values() if cls.__module__.startswith("hospital.")}
    assert len({cls.__name__ for cls in classes}) == len(classes), "message class names must be unique"
    return {cls.__name__: cls for cls in classes}


def _name(node) -> str | None:
    """The name a call ends in: `publish` for `uow.publish(...)` and `publish(...)`."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else "?"


class Scan:
    """What the producers in some sources publish: classes, CaseChanged nodes, and problems."""

    def __init__(self, sources: dict[str, str], classes: dict[str, type]):
        self.classes = classes
        self.published: dict[type, list[str]] = {}
        self.nodes: dict[str, list[str]] = {}
        self.problems: list[str] = []
        for where, source in sources.items():
            self._scan(where, ast.parse(source))

    def _scan(self, where, tree):
        functions = {child: parent.name for parent in ast.walk(tree)
                     if isinstance(parent, (ast.FunctionDef, ast.AsyncFunctionDef)) for child in ast.walk(parent)}
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            at = f"{where}:{call.lineno}"
            if _dotted(call.func).endswith("outbox.add") and not where.endswith("unit_of_work.py"):
                self.problems.append(f"{at}: writes the outbox directly, past the declared messages")
            if _name(call.func) != "publish":
                continue
            built = call.args[0] if len(call.args) == 1 and not call.keywords else None
            cls = self.classes.get(_name(built.func)) if isinstance(built, ast.Call) else None
            if cls is None:
                self.problems.append(f"{at}: publish() must be given a declared message built in the call")
                continue
            self.published.setdefault(cls, []).append(at)
            if cls is CaseChanged:
                self._case_change(where, at, built, functions.get(call))

    def _case_change(self, where, at, built, function):
        node = next((k.value for k in built.keywords if k.arg == "node"), None)
        passed_on = next((nodes for (module, name), nodes in PASSED_ON.items()
                          if where.endswith(module) and name == function), None)
        if isinstance(node, ast.Constant):
            self.nodes.setdefault(node.value, []).append(at)
        elif passed_on is not None:  # a producer publishing the node its callers give it
            for value in passed_on():
                self.nodes.setdefault(value, []).append(f"{at} ({function})")
        else:
            self.problems.append(f"{at}: CaseChanged with a node this test cannot follow")


def _step_nodes() -> list[str]:
    """The nodes the functions hand to dispatch.step (each route names its step), which hands
    them to the service append_step."""
    nodes = []
    for path in sorted((ROOT / "functions").rglob("*.py")):
        for call in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)):
            if _dotted(call.func) == "dispatch.step":
                node = call.args[3] if len(call.args) > 3 else next(k.value for k in call.keywords if k.arg == "node")
                assert isinstance(node, ast.Constant), f"{path}:{call.lineno}: dispatch.step with an unnamed node"
                nodes.append(node.value)
    return nodes


# Functions of the layer that publish CaseChanged for the node they are given, and where it comes from.
PASSED_ON = {("hospital/rescue/dispatch.py", "append_step"): _step_nodes,
             ("hospital/rescue/dispatch.py", "record_progress"): lambda: list(dispatch.TRIP_NODES)}

declared_classes = declared()


def producer_sources() -> dict[str, str]:
    """The layer, and the functions too, though their handlers leave publishing to the layer."""
    paths = sorted((LAYER / "hospital").rglob("*.py")) + sorted((ROOT / "functions").rglob("*.py"))
    return {str(path.relative_to(ROOT)): path.read_text() for path in paths}


def consumer_functions() -> list[tuple[str, str, Consumer]]:
    """(function, destination of its queue, the Consumer its handler runs) for every SQS
    event source of template.yaml."""
    template = load_template(ROOT / "template.yaml")
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    destination_of_queue = {env[setting.name]["Ref"]: destination
                            for destination, setting in outbox.DESTINATIONS.items()}
    found = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        for event in (props.get("Events") or {}).values():
            if event["Type"] == "SQS":
                queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
                module, handler = props["Handler"].split(".")
                found.append((logical_id, destination_of_queue[queue],
                              _consumer_run_by(ROOT / props["CodeUri"] / f"{module}.py", handler)))
    return found


def _consumer_run_by(path: pathlib.Path, handler: str) -> Consumer:
    """The Consumer a handler passes to process_batch, followed through its imports."""
    tree = ast.parse(path.read_text())
    [function] = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == handler]
    imported = {alias.asname or alias.name: f"{node.module}.{alias.name}"
                for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    [call] = [n for n in ast.walk(function) if isinstance(n, ast.Call) and _name(n.func) == "process_batch"]
    target = call.args[1]
    assert isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name), \
        f"{path}: {handler} must pass process_batch a module's Consumer"
    consumer = getattr(importlib.import_module(imported[target.value.id]), target.attr)
    assert isinstance(consumer, Consumer), f"{path}: {handler} runs {_dotted(target)}, not a Consumer"
    return consumer


def unconsumed(scan: Scan, consumers) -> list[str]:
    return [f"{cls.__name__} ({cls.QUEUE}), published at {', '.join(where)}, is handled by no consumer "
            f"function of template.yaml for its queue"
            for cls, where in scan.published.items()
            if not any(destination == cls.QUEUE and cls in c.handles for _, destination, c in consumers)]


def unproduced(scan: Scan, consumers) -> list[str]:
    return [f"{function} handles {cls.__name__}, which nothing publishes"
            for function, _, c in consumers for cls in sorted(c.handles, key=lambda k: k.__name__)
            if cls not in scan.published]


@pytest.fixture(scope="module")
def producers():
    return Scan(producer_sources(), declared_classes)


@pytest.fixture(scope="module")
def consumers():
    return consumer_functions()


def test_producers_publish_declared_messages_only(producers):
    assert producers.problems == []
    assert producers.published, "the scan found no producer at all"


def test_each_consumer_function_reads_the_queue_template_yaml_gives_it(consumers):
    assert {function: (destination, c.queue) for function, destination, c in consumers} == {
        function: (destination, destination) for function, destination, _ in consumers}
    assert {destination for _, destination, _ in consumers} == set(outbox.DESTINATIONS)


def test_every_published_message_has_a_consumer_function_for_its_queue(producers, consumers):
    assert unconsumed(producers, consumers) == []


def test_every_message_a_consumer_handles_has_a_producer(producers, consumers):
    assert unproduced(producers, consumers) == []
    assert set(declared_classes.values()) == set(producers.published), "declared messages nobody publishes"


def test_every_case_step_sent_is_declared_and_every_declared_step_is_sent(producers):
    assert set(producers.nodes) == set(CaseChanged.NODES)
    assert set(CaseChanged.NODES) <= set(timeline.NODES), "CaseChanged names a step the timeline does not have"


# The checks above are only worth something if they catch what they are for.

def test_a_publish_nobody_consumes_is_caught(consumers):
    rogue = Scan({"rogue.py": "def f(uow):\n    uow.publish(RefundRequested(refund_id='r1'))\n"}, declared_classes)
    without_worker = [(f, d, c) for f, d, c in consumers if d != "refunds"]
    assert unconsumed(rogue, without_worker) == [
        ("RefundRequested (refunds), published at rogue.py:2, is handled by no consumer function of "
         "template.yaml for its queue")]


def test_an_undeclared_or_string_publish_and_a_direct_outbox_write_are_caught():
    rogue = Scan({"rogue.py": "def f(uow, conn, node):\n"
                              "    uow.publish('rescue-events', f'rescue.{node}', {})\n"
                              "    uow.publish(CaseRenamed(case_id='c'))\n"
                              "    outbox.add(conn, 'refunds', 'refund.requested', {})\n"}, declared_classes)
    assert [problem.split(": ")[0] for problem in rogue.problems] == ["rogue.py:2", "rogue.py:3", "rogue.py:4"]


def test_a_renamed_or_untraceable_step_is_caught():
    rogue = Scan({"rogue.py": "def f(uow, node):\n"
                              "    uow.publish(CaseChanged(case_id='c', node='arrived'))\n"
                              "    uow.publish(CaseChanged(case_id='c', node=node))\n"}, declared_classes)
    assert set(rogue.nodes) == {"arrived"} and "arrived" not in CaseChanged.NODES
    assert [problem.split(": ")[0] for problem in rogue.problems] == ["rogue.py:3"]
