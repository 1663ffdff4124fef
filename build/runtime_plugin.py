"""Nuitka user plugin (build/options.toml `user-plugin`): once the program's folder is complete
and before it is packed into the onefile payload, carry the C runtime into it from the donor
root named by $EDGESAY_RUNTIME_ROOT, then run the closure check (build/runtime.py). A library
that would come from the device stops the build."""

import os
import sys
from pathlib import Path

from nuitka.plugins.PluginBase import NuitkaPluginBase

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runtime


class EdgesayRuntime(NuitkaPluginBase):  # type: ignore[misc]
    plugin_name = "edgesay-runtime"
    plugin_desc = "Carries glibc's loader and libraries in the payload and checks the closure."

    def onStandaloneDistributionFinished(self, dist_dir: str) -> None:
        donor = Path(os.environ["EDGESAY_RUNTIME_ROOT"])
        dist = Path(dist_dir)
        carried = runtime.carry(dist, donor)
        self.info(f"carried from {donor}: {', '.join(carried)} (glibc {runtime.glibc_version(dist)})")
        problems = runtime.check(dist)
        if problems:
            self.sysexit("closure check failed, these would load from the device:\n  " + "\n  ".join(problems))
        self.info("closure check: every library resolves inside the bundle")
