#!/bin/sh
# `make demo`: the main job on the embedded default. Until the run lands it
# validates the example fleet and shows what each server would request.
set -eu
cd "$(dirname "$0")/.."
build/certfleet check examples/fleet.cfg
