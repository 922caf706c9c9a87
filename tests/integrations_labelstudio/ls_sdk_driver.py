"""Runs inside Label Studio's own environment (.venv-labelstudio), where label-studio-sdk is installed
(it cannot be installed beside samkit's numpy/OpenCV). The tests send one JSON command on stdin and
read one JSON answer on stdout; every Label Studio call here goes through label-studio-sdk."""

import json
import sys
import time

import numpy as np


def client(cmd):
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=cmd["url"], api_key=cmd["token"], timeout=120)


def op_project(cmd):
    ls = client(cmd)
    project = ls.projects.create(title=cmd["title"], label_config=cmd["label_config"])
    out = {"project": project.id}
    storage = ls.import_storage.local.create(project=project.id, path=cmd["storage_path"], use_blob_urls=True,
                                            regex_filter=cmd.get("regex", r".*\.(png|jpg)$"), title="files")
    ls.import_storage.local.sync(id=storage.id)
    out["tasks"] = [{"id": t.id, "data": t.data} for t in ls.tasks.list(project=project.id)]
    for extra in cmd.get("extra_tasks", []):
        ls.projects.import_tasks(id=project.id, request=[extra])
    if cmd.get("extra_tasks"):
        out["tasks"] = [{"id": t.id, "data": t.data} for t in ls.tasks.list(project=project.id)]
    try:
        ml = ls.ml.create(project=project.id, url=cmd["ml_url"], title="samkit", is_interactive=True)
        out["ml"] = ml.id
    except Exception as e:  # the test checks Label Studio's message
        out["ml_error"] = str(e)
    return out


def op_retrieve_predictions(cmd):
    ls = client(cmd)
    ls.actions.create(id="retrieve_tasks_predictions", project=cmd["project"],
                      selected_items={"all": False, "included": cmd["tasks"]})
    return {"predictions": [[p.result for p in ls.predictions.list(task=t)] for t in cmd["tasks"]]}


def op_annotate(cmd):
    ls = client(cmd)
    ann = ls.annotations.create(id=cmd["task"], result=cmd["result"])
    return {"annotation": ann.id}


def op_update_annotation(cmd):
    ls = client(cmd)
    ls.annotations.update(id=cmd["annotation"], result=cmd["result"])
    return {"annotation": cmd["annotation"]}


def op_decode(cmd):
    from label_studio_sdk.converter.brush import decode_rle

    masks = [decode_rle(r).reshape(cmd["height"], cmd["width"], 4)[:, :, 3] for r in cmd["rles"]]
    np.save(cmd["out"], np.stack(masks) if masks else np.zeros((0, cmd["height"], cmd["width"]), np.uint8))
    return {"saved": cmd["out"]}


def op_encode(cmd):
    from label_studio_sdk.converter.brush import mask2rle

    return {"rles": [mask2rle(m.astype(np.uint8) * 255) for m in np.load(cmd["masks"])]}


def main():
    cmd = json.loads(sys.stdin.read())
    t0 = time.perf_counter()
    out = globals()["op_" + cmd["op"]](cmd)
    out["seconds"] = time.perf_counter() - t0
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
