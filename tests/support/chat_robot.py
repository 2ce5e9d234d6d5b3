"""A local stand-in for a chat robot's webhook, checking what the real service checks and
answering as it answers (HTTP 200 with a code in the body).

Usage: chat_robot.py KIND PORT SECRET OUT_FILE BUSY
  KIND     dingtalk | wecom | feishu
  SECRET   the robot's signing secret ("-" for none; WeCom has none)
  OUT_FILE each accepted message's JSON body, one per line
  BUSY     how many first requests get the service's rate-limit answer

DingTalk: POST /robot/send?access_token=T&timestamp=MS&sign=S, S = urlencode(base64(
HMAC-SHA256(secret, f"{MS}\\n{secret}"))), the timestamp within an hour; answers
{"errcode":0,"errmsg":"ok"}, 310000 for a bad sign, 130101 when busy.
WeCom: POST /cgi-bin/webhook/send?key=K; {"errcode":0,"errmsg":"ok"}, 93000 for a bad key,
45009 when busy.
Feishu: POST /open-apis/bot/v2/hook/ID with "timestamp" (seconds) and "sign" = base64(
HMAC-SHA256(key=f"{ts}\\n{secret}", msg="")) in the body; {"code":0,"msg":"success",...},
19021 for a bad sign, 11232 when busy.
"""
import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

kind, port, secret, out_file, busy = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
state = {"seen": 0}


def sign_ok_dingtalk(query):
    if secret == "-":
        return True
    try:
        timestamp = query["timestamp"][0]
        given = query["sign"][0]
    except (KeyError, IndexError):
        return False
    if abs(time.time() * 1000 - int(timestamp)) > 3600 * 1000:
        return False
    string_to_sign = "{}\n{}".format(timestamp, secret).encode()
    expected = base64.b64encode(hmac.new(secret.encode(), string_to_sign, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, given)


def sign_ok_feishu(body):
    if secret == "-":
        return True
    timestamp = str(body.get("timestamp", ""))
    given = str(body.get("sign", ""))
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600:
        return False
    key = "{}\n{}".format(timestamp, secret).encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected, given)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        state["seen"] += 1
        busy_now = state["seen"] <= busy
        if kind == "dingtalk":
            if body is None or body.get("msgtype") not in ("text", "markdown", "link", "actionCard", "feedCard"):
                return self.answer({"errcode": 40035, "errmsg": "缺少参数 json"})
            if not sign_ok_dingtalk(query):
                return self.answer({"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"})
            if busy_now:
                return self.answer({"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
            ok = {"errcode": 0, "errmsg": "ok"}
        elif kind == "wecom":
            if not query.get("key"):
                return self.answer({"errcode": 93000, "errmsg": "invalid webhook url"})
            if body is None or body.get("msgtype") not in ("text", "markdown", "image", "news", "file"):
                return self.answer({"errcode": 40008, "errmsg": "invalid message type"})
            if busy_now:
                return self.answer({"errcode": 45009, "errmsg": "api freq out of limit"})
            ok = {"errcode": 0, "errmsg": "ok"}
        else:
            if body is None or "msg_type" not in body:
                return self.answer({"code": 9499, "msg": "Bad Request", "data": {}})
            if not sign_ok_feishu(body):
                return self.answer({"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time", "data": {}})
            if busy_now:
                return self.answer({"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]", "data": {}})
            ok = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "msg": "success", "data": {}}
        with open(out_file, "a") as out:
            out.write(json.dumps(body, ensure_ascii=False) + "\n")
        self.answer(ok)


ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
