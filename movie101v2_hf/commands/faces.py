"""`movie101v2 faces`: cast members identified by face in every clip of a split."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..faces import FacesOptions, evaluate_identification, identification_table, identify_split
from ..utils.io import write_atomically
from ..utils.runs import sidecar_path
from .base import Command, options_from


class Faces(Command):
    name = "faces"
    help = (
        "Identify cast members in clips by face (insightface: detection + ArcFace, cosine similarity to the cast "
        "portraits). insightface's model packs are for non-commercial research use only."
    )
    options = (FacesOptions,)

    @staticmethod
    def run(args: argparse.Namespace) -> int:
        options = options_from(args, FacesOptions)
        record = identify_split(options)
        print(
            f"{record['num_written']:,}/{record['num_items']:,} clips in {options.out}; portraits embedded "
            f"{record['portraits']['embedded']}, from cache {record['portraits']['from_cache']}"
        )
        for failure in record["failures"][:3]:
            print(f"failed: {failure['clip_id']}: {failure['error']}")
        if options.evaluate:
            scores = evaluate_identification(options.out, options.dataset, config=options.config, split=options.split)
            print(identification_table(scores))
            path = Path(options.out).with_name(Path(options.out).stem + ".eval.json")
            write_atomically(path, json.dumps(scores, indent=2) + "\n")
            print(f"Wrote {path}")
        print(f"Run record: {sidecar_path(options.out)}")
        return 0 if record["complete"] else 1
