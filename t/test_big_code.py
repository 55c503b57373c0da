"""test_big_code.py: an action's code over 64 KiB is stored beside its document in 1 MiB
pieces (modules/engine/ow_code.h), so that no Redis command moves megabytes; what a client sees
does not change: PUT, GET and DELETE answer with exec.code, and the action runs."""

import json

import pytest

from conftest import NODE_KIND

PIECE = 1024 * 1024


@pytest.fixture(scope="module")
def db(stack):
    return stack.redis()


def big_node(size, answer):
    """Node.js code of about size bytes whose main returns {answer}."""
    tail = "\nfunction main() { return {answer: %d}; }\n" % answer
    return "//" + "x" * (size - len(tail) - 2) + tail


def stored(db, name):
    """The stored document and the entity's code key (owx:{guest}:e:<name>)."""
    doc, key = db.hmget("owx:{guest}:e:" + name, "doc", "code")
    return json.loads(doc), key


def test_big_code_is_stored_in_pieces_and_answered_whole(api, db):
    code = big_node(3 * PIECE + 5, 1)
    r = api.put("_/actions/big?overwrite=true", {"exec": {"kind": NODE_KIND, "code": code}},
                timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["exec"]["code"] == code
    assert "attachment" not in r.json()["exec"]

    doc, key = stored(db, "big")
    assert "code" not in doc["exec"]
    assert doc["exec"]["attachment"]["length"] == len(code)
    assert doc["exec"]["attachment"]["chunks"] == 4
    assert key == "owx:{guest}:code:" + doc["exec"]["attachment"]["id"]
    # every piece is one command's worth, and it stays (the upload's TTL is gone)
    assert db.hlen(key) == 4
    assert max(db.hstrlen(key, str(i)) for i in range(4)) == PIECE
    assert db.pttl(key) == -1
    # the list entry and the document are small: no command moves the code
    assert len(db.hget("owx:{guest}:e:big", "doc")) < 4096

    r = api.get("_/actions/big", timeout=60)
    assert r.status_code == 200
    assert r.json()["exec"]["code"] == code
    assert r.json()["exec"]["binary"] is False
    r = api.get("_/actions/big?code=false")
    assert r.status_code == 200
    assert "code" not in r.json()["exec"] and "attachment" not in r.json()["exec"]


def test_an_action_with_big_code_runs(api):
    code = big_node(2 * PIECE, 7)
    r = api.put("_/actions/bigrun?overwrite=true", {"exec": {"kind": NODE_KIND, "code": code}},
                timeout=60)
    assert r.status_code == 200, r.text[:300]
    r = api.post("_/actions/bigrun?blocking=true&result=true", {}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json() == {"answer": 7}


def test_an_update_without_exec_keeps_the_pieces(api, db):
    code = big_node(PIECE + 10, 2)
    assert api.put("_/actions/keep?overwrite=true",
                   {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60).status_code == 200
    _, key = stored(db, "keep")

    r = api.put("_/actions/keep?overwrite=true",
                {"annotations": [{"key": "note", "value": "kept"}]}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["exec"]["code"] == code
    doc, key2 = stored(db, "keep")
    assert key2 == key and db.hlen(key) == 2
    assert {"key": "note", "value": "kept"} in doc["annotations"]
    assert api.get("_/actions/keep", timeout=60).json()["exec"]["code"] == code


def test_replaced_code_frees_its_pieces(api, db):
    assert api.put("_/actions/swap?overwrite=true",
                   {"exec": {"kind": NODE_KIND, "code": big_node(PIECE * 2, 3)}},
                   timeout=60).status_code == 200
    _, old = stored(db, "swap")
    assert db.exists(old)

    # new big code: new pieces, the old ones gone
    code = big_node(PIECE + 1, 4)
    assert api.put("_/actions/swap?overwrite=true",
                   {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60).status_code == 200
    _, new = stored(db, "swap")
    assert new != old and db.exists(new) and not db.exists(old)
    assert api.get("_/actions/swap", timeout=60).json()["exec"]["code"] == code

    # small code: back in the document, no pieces left
    small = "function main() { return {answer: 5}; }"
    assert api.put("_/actions/swap?overwrite=true",
                   {"exec": {"kind": NODE_KIND, "code": small}}).status_code == 200
    doc, key = stored(db, "swap")
    assert key is None and doc["exec"]["code"] == small and not db.exists(new)
    r = api.post("_/actions/swap?blocking=true&result=true", {}, timeout=60)
    assert r.json() == {"answer": 5}


def test_delete_answers_with_the_code_and_frees_the_pieces(api, db):
    code = big_node(PIECE + 100, 6)
    assert api.put("_/actions/gone?overwrite=true",
                   {"exec": {"kind": NODE_KIND, "code": code}}, timeout=60).status_code == 200
    _, key = stored(db, "gone")

    r = api.delete("_/actions/gone", timeout=60)
    assert r.status_code == 200
    assert r.json()["exec"]["code"] == code
    assert not db.exists("owx:{guest}:e:gone")
    # kept a minute for that answer (and for a reader that raced the delete), then gone
    assert 0 < db.pttl(key) <= 60000
    assert api.get("_/actions/gone").status_code == 404


def test_package_delete_with_force_frees_its_actions_pieces(api, db):
    assert api.put("_/packages/bigpkg", {}).status_code == 200
    assert api.put("_/actions/bigpkg/inner",
                   {"exec": {"kind": NODE_KIND, "code": big_node(PIECE + 1, 8)}},
                   timeout=60).status_code == 200
    _, key = stored(db, "bigpkg/inner")
    assert db.exists(key)
    assert api.delete("_/packages/bigpkg?force=true").status_code == 200
    assert not db.exists(key)


def test_pieces_of_a_refused_put_expire(api, db):
    """Pieces are uploaded before the put script decides; a PUT it refuses (here 409, the
    name exists and no overwrite) leaves them under the upload's TTL (OW_CODE_UPLOAD_TTL,
    300 s), never permanent and never referenced, as a gateway dying mid-upload would."""
    assert api.put("_/actions/taken",
                   {"exec": {"kind": NODE_KIND, "code": "function main() {}"}}).status_code == 200
    before = set(db.scan_iter("owx:{guest}:code:*"))
    r = api.put("_/actions/taken",
                {"exec": {"kind": NODE_KIND, "code": big_node(PIECE + 1, 9)}}, timeout=60)
    assert r.status_code == 409, r.text
    left = set(db.scan_iter("owx:{guest}:code:*")) - before
    assert len(left) == 1
    key = left.pop()
    assert db.hlen(key) == 2
    assert 0 < db.pttl(key) <= 300000
    assert db.hget("owx:{guest}:e:taken", "code") is None
