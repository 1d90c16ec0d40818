#!/usr/bin/env bash
# Local Apache Kafka (one KRaft node from Maven Central jars, no Docker):
#   deploy/kafka-local/kafka.sh up | status | down [-clean]
# A thin wrapper: the work is done by the Go command beside it (main.go).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec go run ./deploy/kafka-local "$@"
