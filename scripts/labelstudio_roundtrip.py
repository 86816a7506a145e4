#!/usr/bin/env python3
"""The client half of tests/labelstudio_roundtrip.rs: talks to a Label Studio and a headless
Chromium that the test started (and stops), and writes what it saw as JSON for the test to
check against prelabel's own files.

1. REST API (legacy token): creates a project with prelabel's labeling config, a Local Files
   storage over the output folder (Label Studio serves a file only under such a storage),
   imports prelabel's labelstudio.json with its predictions, and reads tasks and predictions
   back.
2. Chrome DevTools protocol over the browser's remote-debugging websocket: logs in through the
   login form, opens the task in the editor, waits for the video element to load, plays it,
   reads the region list, and saves a screenshot.

Runs with the Label Studio venv's Python (scripts/setup-labelstudio.sh): the standard library
plus `websockets`. Usage:
  labelstudio_roundtrip.py --url URL --token TOKEN --email E --password P --storage DIR \
      --tasks labelstudio.json --config labelstudio_config.xml --cdp-port PORT \
      --screenshot editor.png --result result.json
"""

import argparse
import base64
import json
import sys
import time
import urllib.error
import urllib.request

from websockets.sync.client import connect


def api(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", f"Token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read().decode()
    except urllib.error.HTTPError as e:
        sys.exit(f"{method} {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}")
    return json.loads(text) if text else None


def rest(args):
    """Project, storage, import, read back. Returns the part of the result it found."""
    config = open(args.config).read()
    tasks = json.load(open(args.tasks))
    project = api(args.url, args.token, "POST", "/api/projects", {"title": "prelabel round trip", "label_config": config})
    pid = project["id"]
    api(args.url, args.token, "POST", "/api/storages/localfiles",
        {"project": pid, "path": args.storage, "title": "prelabel output", "use_blob_urls": True})
    imported = api(args.url, args.token, "POST", f"/api/projects/{pid}/import?commit_to_project=true", tasks)
    listed = api(args.url, args.token, "GET", f"/api/tasks?project={pid}&page_size=100")
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    back = []
    for t in listed:
        preds = api(args.url, args.token, "GET", f"/api/predictions?task={t['id']}")
        back.append({"id": t["id"], "data": t["data"], "predictions": preds})
    parsed = api(args.url, args.token, "GET", f"/api/projects/{pid}")["parsed_label_config"]
    labels = sorted({label for control in parsed.values() for label in control.get("labels", [])})
    return pid, {"project": pid, "imported": imported, "tasks": back, "config_labels": labels}


class Page:
    """One page target driven over the DevTools websocket."""

    def __init__(self, cdp_port):
        with urllib.request.urlopen(f"http://127.0.0.1:{cdp_port}/json/list", timeout=10) as r:
            targets = json.load(r)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=64 << 20, open_timeout=10)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr[:80]}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait(self, expr, timeout, what):
        """Polls `expr` until it is truthy; returns its value, or raises naming `what`."""
        end = time.time() + timeout
        while True:
            v = self.eval(expr)
            if v:
                return v
            if time.time() > end:
                raise TimeoutError(f"waited {timeout} s for {what}")
            time.sleep(0.5)

    def goto(self, url):
        self.call("Page.navigate", url=url)
        self.wait("document.readyState === 'complete'", 60, f"{url} to load")


# Reads the editor's state: the video element, the regions its outliner lists (what the
# annotator sees; the list is virtual, so only those in view), and every region the editor
# loaded (its store, `window.Htx`, for the ids: the outliner numbers regions its own way).
EDITOR_STATE = """(() => {
  const v = document.querySelector('video');
  const text = (e, sel) => { const c = e.querySelector(sel); return c ? c.innerText.trim() : null; };
  const listed = [...document.querySelectorAll('.lsf-outliner-item')].map(e => ({
    index: text(e, '.lsf-outliner-item__index'),
    title: text(e, '.lsf-outliner-item__title'),
    score: text(e, '.lsf-outliner-item__control_type_score'),
  }));
  let store = null;
  try {
    store = window.Htx.annotationStore.selected.regions.map(r => ({
      id: r.id, label: r.labels ? r.labels.join(',') : null, keyframes: r.sequence ? r.sequence.length : null,
    }));
  } catch (e) { store = null; }
  return {
    video: v ? {src: v.currentSrc, readyState: v.readyState, currentTime: v.currentTime, duration: v.duration,
                paused: v.paused, error: v.error ? v.error.code : null, width: v.videoWidth, height: v.videoHeight} : null,
    regions: listed,
    store_regions: store,
  };
})()"""


def browser(args, pid, task_id):
    p = Page(args.cdp_port)
    p.call("Page.enable")
    p.call("Runtime.enable")
    p.call("Emulation.setDeviceMetricsOverride", width=1440, height=900, deviceScaleFactor=1, mobile=False)
    p.goto(args.url + "/user/login/")
    p.wait("!!document.querySelector('input[name=email]')", 30, "the login form")
    p.eval(f"""(() => {{
        document.querySelector('input[name=email]').value = {json.dumps(args.email)};
        document.querySelector('input[name=password]').value = {json.dumps(args.password)};
        document.querySelector('form').submit();
    }})()""")
    p.wait("location.pathname !== '/user/login/' && document.readyState === 'complete'", 60, "the login to finish")
    p.goto(f"{args.url}/projects/{pid}/data?task={task_id}")
    t0 = time.time()
    p.wait("(() => { const v = document.querySelector('video'); return v && v.readyState >= 2; })()", 90,
           "the editor's video to load (readyState >= 2)")
    loaded_s = time.time() - t0
    before = p.eval(EDITOR_STATE)
    p.eval("document.querySelector('video').play().then(() => true, e => String(e))")
    time.sleep(2.0)
    during = p.eval(EDITOR_STATE)
    p.eval("document.querySelector('video').pause(), true")
    # The outliner fills once the prediction is loaded into the annotation; a timeout here
    # is left for the test to report with what the page showed.
    try:
        p.wait(EDITOR_STATE + ".regions.length > 0", 30, "the region list")
    except TimeoutError:
        pass
    after = p.eval(EDITOR_STATE)
    shot = p.call("Page.captureScreenshot", format="png")
    with open(args.screenshot, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    return {
        "loaded_s": round(loaded_s, 2),
        "before_play": before,
        "while_playing": during,
        "after": after,
        "can_play_h264": p.eval("document.createElement('video').canPlayType('video/mp4; codecs=\"avc1.640028\"')"),
        "page_text": p.eval("document.body.innerText.slice(0, 3000)"),
    }


def main():
    ap = argparse.ArgumentParser()
    for a in ["url", "token", "email", "password", "storage", "tasks", "config", "screenshot", "result"]:
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--cdp-port", type=int, required=True)
    ap.add_argument("--skip-browser", action="store_true")
    args = ap.parse_args()
    t = time.time()
    pid, result = rest(args)
    result["rest_s"] = round(time.time() - t, 2)
    if not args.skip_browser:
        t = time.time()
        result["browser"] = browser(args, pid, result["tasks"][0]["id"])
        result["browser_s"] = round(time.time() - t, 2)
    with open(args.result, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
