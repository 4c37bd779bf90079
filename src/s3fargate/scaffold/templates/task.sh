#!/bin/sh
# {{project}}: the command run once for every uploaded file, by `s3fargate-task`.
# $S3FARGATE_INPUT is the downloaded object; every file left in $S3FARGATE_OUTPUT_DIR becomes an
# output. Exit 0 on success: any other code fails the job, and leaves no outputs.
set -eu
sort "$S3FARGATE_INPUT" > "$S3FARGATE_OUTPUT_DIR/sorted.txt"
wc -l < "$S3FARGATE_INPUT" > "$S3FARGATE_OUTPUT_DIR/lines.txt"
