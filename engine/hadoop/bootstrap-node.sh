#!/bin/bash
# EMR bootstrap action of Sluice's transient clusters, run on every node before Hadoop starts:
# installs Node.js for the streaming mapper, fetches the job bundle and checks that it loads, so a
# cluster whose nodes cannot run the jobs fails at bootstrap instead of in the middle of a step.
#   bootstrap-node.sh <node major version> <s3:// URI of the job bundle>
set -euo pipefail
NODE_MAJOR="$1"
BUNDLE_URI="$2"

node_ok() {
  command -v node >/dev/null 2>&1 &&
    node -e "process.exit(Number(process.versions.node.split('.')[0]) >= ${NODE_MAJOR} ? 0 : 1)"
}

if ! node_ok; then
  # Amazon Linux 2023 (EMR 7.x) packages versioned Node.js as nodejsNN with a node-NN binary.
  sudo dnf install -y -q "nodejs${NODE_MAJOR}"
  if ! node_ok && command -v "node-${NODE_MAJOR}" >/dev/null 2>&1; then
    sudo ln -sf "$(command -v "node-${NODE_MAJOR}")" /usr/bin/node
  fi
fi
node_ok || { echo "Node.js ${NODE_MAJOR}+ is not available after installing nodejs${NODE_MAJOR}" >&2; exit 1; }

# Steps ship the bundle with -files; this copy is for the load check and for running a task by hand.
sudo mkdir -p /opt/sluice
sudo aws s3 cp --only-show-errors "${BUNDLE_URI}" /opt/sluice/sluice-jobs.mjs
sudo chmod 0644 /opt/sluice/sluice-jobs.mjs
node /opt/sluice/sluice-jobs.mjs --check
