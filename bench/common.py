"""What the bench scripts share: the machine description and merging results into their JSON."""
from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def machine_info(threads, **extra) -> dict:
    import keras
    import tensorflow as tf

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "python": platform.python_version(),
            "threads": threads or "default",
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
            "gpu": [d.name for d in tf.config.list_logical_devices("GPU")],
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), **extra}


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def save_results(path: Path, update: dict) -> dict:
    """Merge ``update`` into the JSON at ``path`` (one level deep) and write it back."""
    results = load_results(path)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(results.get(key), dict):
            results[key].update(value)
        else:
            results[key] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return results


def report(update: dict, path: Path, no_save: bool, table) -> dict:
    """A bench run's end: its JSON printed, merged into ``path`` (unless --no-save), and the
    markdown table of everything ``path`` now holds. Returns the merged results."""
    print(json.dumps(update, indent=2))
    results = update if no_save else save_results(path, update)
    print(table(results))
    return results
