"""test_triggers_fire.py: firing triggers end to end (openwhisk-api.md §3 trigger
activations, §4 POST /triggers/{t}, §6 firesPerMinute): the gateway answers at once and
queues one job per active rule on owx:{fire}:queue; the pool-manager delivers each like a
non-blocking invoke, and the action's record names the trigger activation as its cause.
Also the feed lifecycle requests `wsk trigger create/get/delete --feed` sends."""

import json
import os
import subprocess
import time

from conftest import assert_error, wait_activation
from owx import admin
from owx.stack import wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# guest fires a few dozen times in this module; the throttle is tested in a namespace
# of its own
GUEST_LIMITS = {"firesPerMinute": 1000}

ECHO = "function main(p) { return p }"
DEADLINE = 60.0


def put_action(api, name, code=ECHO, **extra):
    body = {"exec": {"kind": "nodejs:default", "code": code}}
    body.update(extra)
    r = api.put("_/actions/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text


def put_trigger(api, name, params=None, annotations=None):
    body = {"name": name}
    if params is not None:
        body["parameters"] = [{"key": k, "value": v} for k, v in params.items()]
    if annotations is not None:
        body["annotations"] = annotations
    r = api.put("_/triggers/%s?overwrite=true" % name, body)
    assert r.status_code == 200, r.text
    return r.json()


def put_rule(api, name, trigger, action):
    r = api.put("_/rules/%s?overwrite=true" % name,
                {"name": name, "status": "", "trigger": "/_/" + trigger, "action": "/_/" + action})
    assert r.status_code == 200, r.text


def records_of(api, name, count=1, deadline=DEADLINE):
    """The newest `count` records of `name`, once that many exist (the sidecar writes
    them after the run, off the response path)."""
    def records():
        r = api.get("_/activations?docs=true&name=" + name)
        assert r.status_code == 200, r.text
        return r.json() if len(r.json()) >= count else None
    return wait_until(records, deadline, "%d record(s) of %s" % (count, name))


def fire(api, trigger, payload=None):
    return api.post("_/triggers/" + trigger, payload)


def test_one_active_rule_runs_its_action_with_merged_params(api):
    put_action(api, "fa1")
    put_trigger(api, "ft1", {"x": 1, "y": "trigger", "big": 1234567890123456})
    put_rule(api, "fr1", "ft1", "fa1")

    r = fire(api, "ft1", {"y": "payload", "z": [], "o": {}})
    assert r.status_code == 202, r.text
    tid = r.json()["activationId"]
    assert set(r.json()) == {"activationId"} and len(tid) == 32
    assert r.headers["x-openwhisk-activation-id"] == tid

    run = records_of(api, "fa1")[0]
    assert run["cause"] == tid
    # causedBy is for sequence components only
    assert "causedBy" not in {a["key"] for a in run["annotations"]}
    assert run["namespace"] == "guest" and run["name"] == "fa1"
    assert run["response"]["success"] is True
    # trigger parameters, then the payload over them; values keep their exact form
    # (16 digits: more than lua-cjson keeps, still exact in a JavaScript number)
    assert run["response"]["result"] == {"x": 1, "y": "payload", "big": 1234567890123456,
                                         "z": [], "o": {}}

    trig = wait_activation(api, tid)
    assert trig["name"] == "ft1" and trig["namespace"] == "guest"
    assert trig["subject"] == "guest" and trig["version"] == "0.0.1"
    assert "end" not in trig and "duration" not in trig
    assert trig["response"] == {"status": "success", "success": True,
                                "result": {"y": "payload", "z": [], "o": {}}}
    assert trig["annotations"] == []
    assert trig["logs"] == [json.dumps(
        {"statusCode": 0, "success": True, "activationId": run["activationId"],
         "rule": "guest/fr1", "action": "guest/fa1"}, separators=(",", ":"))]
    # the trigger's activations are listed under its name
    assert [a["activationId"] for a in records_of(api, "ft1")] == [tid]


def test_two_rules_run_two_actions_and_an_inactive_one_is_logged_not_run(api):
    put_action(api, "fb1")
    put_action(api, "fb2")
    put_action(api, "fb3")
    put_trigger(api, "ft2")
    put_rule(api, "fr2a", "ft2", "fb1")
    put_rule(api, "fr2b", "ft2", "fb2")
    put_rule(api, "fr2c", "ft2", "fb3")
    r = api.post("_/rules/fr2c", {"status": "inactive"})
    assert r.status_code == 200, r.text

    r = fire(api, "ft2", {"n": 7})
    assert r.status_code == 202, r.text
    tid = r.json()["activationId"]

    one, two = records_of(api, "fb1")[0], records_of(api, "fb2")[0]
    for run in (one, two):
        assert run["cause"] == tid
        assert run["response"]["result"] == {"n": 7}
    assert one["activationId"] != two["activationId"]

    logs = [json.loads(line) for line in wait_activation(api, tid)["logs"]]
    assert logs == [
        {"statusCode": 0, "success": True, "activationId": one["activationId"],
         "rule": "guest/fr2a", "action": "guest/fb1"},
        {"statusCode": 0, "success": True, "activationId": two["activationId"],
         "rule": "guest/fr2b", "action": "guest/fb2"},
        {"statusCode": 1, "success": False,
         "error": "Rule 'guest/fr2c' is inactive, action 'guest/fb3' was not activated.",
         "rule": "guest/fr2c", "action": "guest/fb3"},
    ]
    # the inactive rule's action did not run (the two others ran: the queue is FIFO)
    assert api.get("_/activations?name=fb3").json() == []


def test_no_active_rule_is_204_without_a_record(api):
    put_action(api, "fc1")
    put_trigger(api, "ft3")
    r = fire(api, "ft3", {"a": 1})
    assert r.status_code == 204 and r.content == b""

    put_rule(api, "fr3", "ft3", "fc1")
    assert api.post("_/rules/fr3", {"status": "inactive"}).status_code == 200
    r = fire(api, "ft3")
    assert r.status_code == 204 and r.content == b""
    assert api.get("_/activations?name=ft3").json() == []


def test_unknown_trigger_and_bad_payloads(api):
    assert_error(fire(api, "nosuchtrigger", {}), 404, "The requested resource does not exist.")
    put_trigger(api, "ft4")
    r = api.post("_/triggers/ft4", data="[1,2]", headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    assert r.json()["error"].startswith("The request content was malformed:")
    r = api.post("_/triggers/ft4", data="{nope", headers={"Content-Type": "application/json"})
    assert_error(r, 400)
    big = {"k": "x" * (1024 * 1024)}
    r = api.post("_/triggers/ft4", big)
    assert_error(r, 413)
    # an action is not a trigger
    put_action(api, "notatrigger")
    assert_error(fire(api, "notatrigger", {}), 409,
                 "Resource by this name exists but is not in this collection.")


def test_fires_per_minute(stack, api, make_user):
    user = make_user("fire-throttled")
    ns = user.get("/api/v1/namespaces").json()[0]
    assert admin.main(stack.admin_args() + ["limits", "set", ns,
                       "--firesPerMinute", "2"]) == 0
    put_trigger(user, "limited")
    # the count is per minute: the whole of a fresh one ahead
    stack.fresh_minute()
    assert fire(user, "limited").status_code == 204
    assert fire(user, "limited").status_code == 204
    assert_error(fire(user, "limited"), 429,
                 "Too many requests in the last minute (count: 2, allowed: 2).")
    # the next minute admits again
    stack.fresh_minute()
    assert fire(user, "limited").status_code == 204
    # another namespace is not affected
    put_trigger(api, "unlimited")
    assert fire(api, "unlimited").status_code == 204


def pool_manager_pid(stack):
    with open(stack.path("pool-manager", "pool-manager.pid")) as f:
        return int(f.read())


def test_jobs_survive_a_pool_manager_restart(stack, api):
    """A fire while no pool-manager runs is queued; a job a pool-manager took and did not
    deliver (left in the processing list) is delivered by the next one."""
    put_action(api, "fd1")
    put_trigger(api, "ft5")
    put_rule(api, "fr5", "ft5", "fd1")
    # warm: the restart below need not wait for a cold start
    assert fire(api, "ft5", {"round": 0}).status_code == 202
    records_of(api, "fd1", 1)

    os.kill(pool_manager_pid(stack), 9)
    try:
        r = fire(api, "ft5", {"round": 1})
        assert r.status_code == 202, r.text
        queued_tid = r.json()["activationId"]
        # a job taken by the killed pool-manager and never delivered
        rd = stack.redis(decode_responses=False)
        taken_id = "abcdef0123456789abcdef0123456789"
        rd.lpush("owx:{fire}:processing", json.dumps({
            "activationId": taken_id, "action": "guest/fd1", "namespace": "guest",
            "subject": "guest", "cause": queued_tid, "trigger": "guest/ft5",
            "rule": "guest/fr5", "acceptTime": int(time.time() * 1000),
            "params": {"round": 2}}))
    finally:
        for p in list(stack.procs):
            if p.poll() is not None:
                stack.procs.remove(p)
        stack.start_pool_manager()

    runs = records_of(api, "fd1", 3)
    by_round = {a["response"]["result"]["round"]: a for a in runs}
    assert set(by_round) == {0, 1, 2}
    assert by_round[1]["cause"] == queued_tid
    assert by_round[2]["activationId"] == taken_id
    wait_until(lambda: not (rd.llen("owx:{fire}:processing") or rd.llen("owx:{fire}:queue")),
               10, "the fire lists to empty")


FEED = """
function main(p) {
  // a feed action records what the CLI sent it
  return {event: p.lifecycleEvent, trigger: p.triggerName, hasKey: !!p.authKey,
          cron: p.cron};
}
"""


def test_feed_lifecycle_as_the_cli_sends_it(api):
    """`wsk trigger create t --feed /guest/feeds/alarm -p cron x`: PUT the trigger with the
    feed annotation, then a blocking invoke of the feed action (CREATE); `wsk trigger get`
    may invoke it with READ; `wsk trigger delete` invokes it with DELETE, then DELETEs."""
    r = api.put("_/packages/feeds?overwrite=true", {})
    assert r.status_code == 200, r.text
    put_action(api, "feeds/alarm", FEED, annotations=[{"key": "feed", "value": True}])

    r = api.put("_/triggers/feedtrig?overwrite=false", {
        "name": "feedtrig",
        "annotations": [{"key": "feed", "value": "/guest/feeds/alarm"}],
        "parameters": [{"key": "cron", "value": "* * * * *"}]})
    assert r.status_code == 200, r.text
    assert r.json()["annotations"] == [{"key": "feed", "value": "/guest/feeds/alarm"}]

    def lifecycle(event):
        r = api.post("guest/actions/feeds/alarm?blocking=true&result=false", {
            "lifecycleEvent": event, "triggerName": "/guest/feedtrig",
            "authKey": api.key, "cron": "* * * * *"}, timeout=60)
        assert r.status_code == 200, r.text
        assert r.json()["response"]["result"] == {
            "event": event, "trigger": "/guest/feedtrig", "hasKey": True, "cron": "* * * * *"}

    lifecycle("CREATE")
    r = api.get("_/triggers/feedtrig")
    assert r.status_code == 200
    assert {"key": "feed", "value": "/guest/feeds/alarm"} in r.json()["annotations"]
    lifecycle("READ")
    lifecycle("DELETE")
    r = api.delete("_/triggers/feedtrig")
    assert r.status_code == 200
    assert r.json()["annotations"] == [{"key": "feed", "value": "/guest/feeds/alarm"}]
    assert api.get("_/triggers/feedtrig").status_code == 404


def test_feed_annotation_must_name_an_entity(api):
    r = api.put("_/triggers/badfeed?overwrite=false", {
        "annotations": [{"key": "feed", "value": "/guest/a b/?c"}]})
    assert_error(r, 400, "Feed name is not valid")
    r = api.put("_/triggers/badfeed2?overwrite=false", {
        "annotations": [{"key": "feed", "value": 42}]})
    assert_error(r, 400, "Feed name is not valid")


def test_npm_client_fires_runs_sequences_and_manages_feeds(stack, api):
    """The openwhisk npm client: triggers.invoke runs the rule's action, a sequence invoked
    with actions.invoke answers its last component's result, feeds.create / feeds.delete
    invoke the feed action with CREATE / DELETE."""
    put_action(api, "npmfired")
    put_trigger(api, "npmtrig", {"from": "trigger"})
    put_rule(api, "npmrule", "npmtrig", "npmfired")
    put_action(api, "npmdouble", "function main(p) { return {n: (p.n || 1) * 2} }")
    r = api.put("_/actions/npmseq?overwrite=true", {
        "exec": {"kind": "sequence",
                 "components": ["/guest/npmdouble", "/guest/npmdouble"]}})
    assert r.status_code == 200, r.text
    r = api.put("_/packages/npmfeeds?overwrite=true", {})
    assert r.status_code == 200, r.text
    put_action(api, "npmfeeds/alarm", FEED, annotations=[{"key": "feed", "value": True}])
    script = """
      const ow = require('openwhisk')({apihost: process.env.H, api_key: process.env.K});
      (async () => {
        const fired = await ow.triggers.invoke({name: 'npmtrig', params: {p: 1}});
        const seq = await ow.actions.invoke({name: 'npmseq', blocking: true, result: true,
                                             params: {n: 3}});
        await ow.triggers.create({name: 'npmfeedtrig'});
        const created = await ow.feeds.create({name: 'npmfeeds/alarm', trigger: 'npmfeedtrig',
                                               params: {cron: '* * * * *'}});
        const deleted = await ow.feeds.delete({name: 'npmfeeds/alarm', trigger: 'npmfeedtrig'});
        console.log(JSON.stringify({fired, seq, created: created.response.result,
                                    deleted: deleted.response.result}));
      })().catch(e => { console.error(e.message); process.exit(1); });
    """
    out = subprocess.run(["node", "-e", script], cwd=os.path.join(ROOT, "t", "npm"),
                         env=dict(os.environ, H=stack.url, K=api.key),
                         capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert set(got["fired"]) == {"activationId"}
    assert got["seq"] == {"n": 12}
    # the client names the trigger "/_/npmfeedtrig"; the feed action gets it as sent
    assert got["created"]["event"] == "CREATE"
    assert got["created"]["trigger"] in ("/_/npmfeedtrig", "/guest/npmfeedtrig")
    assert got["deleted"]["event"] == "DELETE"
    run = records_of(api, "npmfired")[0]
    assert run["cause"] == got["fired"]["activationId"]
    assert run["response"]["result"] == {"from": "trigger", "p": 1}
