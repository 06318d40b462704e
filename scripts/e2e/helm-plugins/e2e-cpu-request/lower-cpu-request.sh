#!/bin/sh
# stdin: rendered manifests; stdout: the same with every whole-CPU request
# (`cpu: "N"` right under `requests:`) set to $E2E_CPU_REQUEST.
exec awk -v req="${E2E_CPU_REQUEST:-250m}" '
  after_requests && $0 ~ /^ *cpu: "?[0-9]+"?$/ { sub(/cpu: .*/, "cpu: \"" req "\"") }
  { after_requests = ($0 ~ /^ *requests:$/); print }
'
