#!/bin/sh
# Speak several texts in one process (the voice loads once): one JSON object per line,
# each with its own output file and speaker; a failing line stops with a non-zero exit.
#     sh examples/json_lines.sh [OUTPUT_FOLDER]
set -eu
out=${1:-.}
mkdir -p "$out"
edgesay --json-input <<JSON
{"text": "The front door is locked.", "output_file": "$out/door.wav"}
{"text": "It is twenty degrees outside.", "output_file": "$out/weather.wav"}
{"text": "<speak>Wait <break time=\"500ms\"/> for it.</speak>", "ssml": true, "output_file": "$out/pause.wav"}
JSON
ls "$out"/door.wav "$out"/weather.wav "$out"/pause.wav
