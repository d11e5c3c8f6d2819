#!/bin/bash
# The device command of session 9's first GPU run (NVIDIA H100 80GB HBM3), on the builds packed from fe7ef2a
# (gpubin/) and e1a3a79 (gpubin-s8/, session 8's HEAD: before changes 40-41).
set -u; for d in gpubin gpubin-s8 gpubin-old; do gunzip -f $d/libxent.so.gz; chmod +x $d/*; done
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 330 tools/gpu/run_suites.sh gpubin $OUT/suites suites > $OUT/suites_stdout.log 2>&1
STAGES=bench MODES=fused DTYPES="bf16 f32 f16" timeout 245 tools/gpu/compare_builds.sh gpubin-s8 gpubin $OUT/ab40 240
