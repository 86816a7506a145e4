#!/usr/bin/env python3
"""The client half of tests/serve_labelstudio.rs: drives a Label Studio, a `prelabel serve`
and a headless Chromium that the test started (and stops), and writes what it saw as JSON
for the test to check against `prelabel run`'s own file.

1. REST API (legacy token): a project with the given labeling config, a Local Files storage
   over the video root, the tasks imported (one per --video), the backend connected
   (POST /api/ml: Label Studio checks its /health and /setup).
   One more task is an uploaded file (fetched by the server from Label Studio with the token).
2. "Retrieve predictions" (the Data Manager action) on every task. The server runs with
   --wait 0, so it answers "pending" and sends each prediction through the API once its
   video is labelled: wait for it to arrive.
3. The prediction deleted, retrieved again: now answered at once, from the server's disk.
4. The backend's /predict and /status called directly: the per-task error of a bad video,
   and the queue's counts.
5. The editor in the browser (scripts/labelstudio_roundtrip.py's Page and log-in), with the
   regions the backend predicted, and a screenshot.

Runs with the Label Studio venv's Python (scripts/setup-labelstudio.sh).
"""

import argparse
import json
import os
import sys
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labelstudio_roundtrip import api, browser  # noqa: E402


def backend_call(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.load(r)


def retrieve(args, pid):
    t = time.time()
    r = api(args.url, args.token, "POST", f"/api/dm/actions/?id=retrieve_tasks_predictions&project={pid}",
            {"selectedItems": {"all": True, "excluded": []}})
    return r, round(time.time() - t, 2)


def predictions(args, task_id):
    preds = api(args.url, args.token, "GET", f"/api/predictions/?task={task_id}")
    return preds["results"] if isinstance(preds, dict) else preds


def upload(args, pid, path):
    """Imports `path` as an uploaded file (multipart, as the import dialog sends it)."""
    boundary = "prelabel" + uuid.uuid4().hex
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{os.path.basename(path)}"\r\n'
            'Content-Type: video/mp4\r\n\r\n').encode()
    body = head + open(path, "rb").read() + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{args.url}/api/projects/{pid}/import?commit_to_project=true", data=body, method="POST")
    req.add_header("Authorization", f"Token {args.token}")
    req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)


def wait_prediction(args, task_id, timeout):
    end = time.time() + timeout
    while time.time() < end:
        p = predictions(args, task_id)
        if p:
            return p
        time.sleep(0.5)
    return []


def main():
    ap = argparse.ArgumentParser()
    for a in ["url", "token", "email", "password", "backend", "storage", "config", "screenshot", "result"]:
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--video", action="append", required=True, help="a video's path under the document root")
    ap.add_argument("--upload", required=True, help="a video to import as an upload")
    ap.add_argument("--cdp-port", type=int, required=True)
    args = ap.parse_args()
    out = {}
    t0 = time.time()

    config = open(args.config).read()
    pid = api(args.url, args.token, "POST", "/api/projects", {"title": "prelabel serve", "label_config": config})["id"]
    api(args.url, args.token, "POST", "/api/storages/localfiles",
        {"project": pid, "path": args.storage, "title": "videos", "use_blob_urls": True})
    tasks = [{"data": {"video": f"/data/local-files/?d={v}"}} for v in args.video]
    api(args.url, args.token, "POST", f"/api/projects/{pid}/import?commit_to_project=true", tasks)
    upload(args, pid, args.upload)
    listed = api(args.url, args.token, "GET", f"/api/tasks?project={pid}&page_size=100")
    listed = listed["tasks"] if isinstance(listed, dict) else listed
    by_video = {t["data"]["video"]: t for t in listed}
    ids = [by_video[f"/data/local-files/?d={v}"]["id"] for v in args.video]
    uploaded = [t for t in listed if t["data"]["video"].startswith("/data/upload/")]
    assert len(uploaded) == 1, listed
    out["tasks"] = [{"id": i, "video": v} for i, v in zip(ids, args.video)]
    out["upload_task"] = {"id": uploaded[0]["id"], "video": uploaded[0]["data"]["video"]}

    t = time.time()
    ml = api(args.url, args.token, "POST", "/api/ml", {"url": args.backend, "project": pid, "title": "prelabel"})
    out["ml_backend"] = {"state": ml.get("state"), "model_version": ml.get("model_version"), "connect_s": round(time.time() - t, 2)}

    # 2. First retrieval: pending, then sent through the API.
    out["retrieve_1"], out["retrieve_1_s"] = retrieve(args, pid)
    t = time.time()
    first = wait_prediction(args, ids[0], 120)
    out["posted_wait_s"] = round(time.time() - t, 2)
    out["posted"] = first
    out["posted_upload"] = wait_prediction(args, out["upload_task"]["id"], 60)
    out["status_after_posted"] = backend_call(args.backend, "/status")
    out["others_after_posted"] = {str(i): predictions(args, i) for i in ids[1:]}

    # 3. Deleted and retrieved again: from the server's disk.
    for p in first + out["posted_upload"]:
        api(args.url, args.token, "DELETE", f"/api/predictions/{p['id']}/")
    out["retrieve_2"], out["retrieve_2_s"] = retrieve(args, pid)
    out["from_disk"] = predictions(args, ids[0])
    out["from_disk_upload"] = predictions(args, out["upload_task"]["id"])
    out["status_after_disk"] = backend_call(args.backend, "/status")

    # 4. The backend directly: each task's own answer.
    out["direct"] = backend_call(args.backend, "/predict", {
        "tasks": [{"id": i, "data": {"video": f"/data/local-files/?d={v}"}} for i, v in zip(ids, args.video)],
        "project": f"{pid}.0", "label_config": config, "params": {"context": None}})
    out["rest_s"] = round(time.time() - t0, 2)

    # 5. The editor.
    t = time.time()
    out["browser"] = browser(args, pid, ids[0])
    out["browser_s"] = round(time.time() - t, 2)
    with open(args.result, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
