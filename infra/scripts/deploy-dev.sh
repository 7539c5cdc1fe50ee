#!/usr/bin/env bash
# Pourover dev deploy: runs one release's compose file on this host, rolls back on failure.
#
# Usage: deploy-dev.sh --app APP --tag TAG --compose-file PATH --workdir DIR
#                      [--health-urls "URL URL"] [--registry HOST] [--wait-timeout N] [--dry-run]
#
# Steps: keep the current WORKDIR/compose.yaml as the rollback point (compose.previous.yaml), copy the
# new file in, log in to ECR with the instance role (when --registry is given), `docker compose pull`,
# `docker compose up -d --wait`, then check each health URL with retries. When pull fails nothing was
# started: the previous file is put back. When `up` or a health check fails the previous file is put
# back and started again, and both results are reported.
#
# Progress goes to stderr. The last line on stdout is one JSON object:
#   {"status":"deployed"|"failed"|"rolled-back"|"rollback-failed"|"dry-run", ...}
# Exit codes: 0 deployed or dry-run, 1 failed or rolled back, 2 bad usage, 3 rollback failed.
#
# Environment: POUROVER_HEALTH_ATTEMPTS (default 10), POUROVER_HEALTH_INTERVAL seconds (default 3).
set -euo pipefail

APP=""
TAG=""
COMPOSE_FILE=""
WORKDIR=""
HEALTH_URLS=""
REGISTRY=""
WAIT_TIMEOUT=300
DRY_RUN=false
HEALTH_ATTEMPTS="${POUROVER_HEALTH_ATTEMPTS:-10}"
HEALTH_INTERVAL="${POUROVER_HEALTH_INTERVAL:-3}"

# fd 3: the caller's stdout, for DRY-RUN lines even while a command's output goes to stderr.
exec 3>&1

log() { printf '%s\n' "deploy-dev: $*" >&2; }

json_string() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/}
  s=${s//$'\t'/ }
  printf '"%s"' "$s"
}

# result STATUS [key value]...: prints the final JSON line.
result() {
  local status=$1
  shift
  local out
  out="{\"status\":$(json_string "$status"),\"app\":$(json_string "$APP"),\"tag\":$(json_string "$TAG")"
  while [ "$#" -ge 2 ]; do
    out="${out},$(json_string "$1"):$(json_string "$2")"
    shift 2
  done
  printf '%s}\n' "$out"
}

usage() {
  log "$1"
  log 'usage: deploy-dev.sh --app APP --tag TAG --compose-file PATH --workdir DIR [--health-urls "URL URL"] [--registry HOST] [--wait-timeout N] [--dry-run]'
  result failed step usage error "$1"
  exit 2
}

need_value() {
  if [ "$#" -lt 2 ] || [ -z "$2" ]; then usage "missing value for $1"; fi
}

while [ "$#" -gt 0 ]; do
  case "$1" in
    --app) need_value "$@"; APP=$2; shift 2 ;;
    --tag) need_value "$@"; TAG=$2; shift 2 ;;
    --compose-file) need_value "$@"; COMPOSE_FILE=$2; shift 2 ;;
    --workdir) need_value "$@"; WORKDIR=$2; shift 2 ;;
    --health-urls) HEALTH_URLS=${2-}; shift 2 || usage "missing value for --health-urls" ;;
    --registry) need_value "$@"; REGISTRY=$2; shift 2 ;;
    --wait-timeout) need_value "$@"; WAIT_TIMEOUT=$2; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h | --help)
      sed -n '3,4p' "$0" >&2
      exit 0
      ;;
    *) usage "unknown argument: $1" ;;
  esac
done

[ -n "$APP" ] || usage "--app is required"
[ -n "$TAG" ] || usage "--tag is required"
[ -n "$COMPOSE_FILE" ] || usage "--compose-file is required"
[ -n "$WORKDIR" ] || usage "--workdir is required"
case "$APP" in *[!a-z0-9-]*) usage "--app must be lowercase letters, digits and dashes" ;; esac
case "$TAG" in v[0-9]*) ;; *) usage "--tag must be a v-prefixed version" ;; esac
case "$TAG" in *[!A-Za-z0-9.+-]*) usage "--tag has unexpected characters" ;; esac
case "$WAIT_TIMEOUT" in '' | *[!0-9]*) usage "--wait-timeout must be a number of seconds" ;; esac
case "$REGISTRY" in *[!A-Za-z0-9.:-]*) usage "--registry must be a registry host" ;; esac
if [ "$DRY_RUN" = false ] && [ ! -f "$COMPOSE_FILE" ]; then usage "compose file not found: $COMPOSE_FILE"; fi

CURRENT="$WORKDIR/compose.yaml"
PREVIOUS="$WORKDIR/compose.previous.yaml"
COMPOSE=(docker compose --project-name "$APP" --project-directory "$WORKDIR" --file "$CURRENT")
export POUROVER_APP="$APP" POUROVER_TAG="$TAG"

# run CMD...: runs a command, or prints it in a dry run.
run() {
  if [ "$DRY_RUN" = true ]; then
    printf 'DRY-RUN: %s\n' "$*" >&3
    return 0
  fi
  log "+ $*"
  "$@"
}

ecr_login() {
  local region
  region=$(printf '%s' "$REGISTRY" | sed -n 's/^[0-9]*\.dkr\.ecr\.\([a-z0-9-]*\)\.amazonaws\.com.*$/\1/p')
  region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}}
  if [ "$DRY_RUN" = true ]; then
    printf 'DRY-RUN: %s\n' "aws ecr get-login-password --region $region | docker login --username AWS --password-stdin $REGISTRY" >&3
    return 0
  fi
  log "+ aws ecr get-login-password --region $region | docker login --username AWS --password-stdin $REGISTRY"
  aws ecr get-login-password --region "$region" | docker login --username AWS --password-stdin "$REGISTRY" >&2
}

health_check() {
  local url attempt
  for url in $HEALTH_URLS; do
    if [ "$DRY_RUN" = true ]; then
      printf 'DRY-RUN: %s\n' "curl -fsS --max-time 5 -o /dev/null $url (up to $HEALTH_ATTEMPTS attempts)" >&3
      continue
    fi
    attempt=1
    until curl -fsS --max-time 5 -o /dev/null "$url"; do
      if [ "$attempt" -ge "$HEALTH_ATTEMPTS" ]; then
        log "health check failed: $url"
        FAILED_URL=$url
        return 1
      fi
      attempt=$((attempt + 1))
      sleep "$HEALTH_INTERVAL"
    done
    log "healthy: $url"
  done
  return 0
}

# Puts the rollback point back in place (or removes the new file when there was none).
restore_file() {
  if [ "$HAD_PREVIOUS" = true ]; then
    cp -p "$PREVIOUS" "$CURRENT"
  else
    rm -f "$CURRENT"
  fi
}

# rollback STEP ERROR: the new release failed after `up` started it.
rollback() {
  local step=$1 error=$2
  if [ "$HAD_PREVIOUS" = false ]; then
    log "no previous compose file: nothing to roll back to"
    result failed step "$step" error "$error" rollback "none"
    exit 1
  fi
  log "rolling back to the previous compose file"
  restore_file
  if "${COMPOSE[@]}" up -d --remove-orphans --wait --wait-timeout "$WAIT_TIMEOUT" >&2; then
    result rolled-back step "$step" error "$error" rollback "ok"
    exit 1
  fi
  log "rollback failed: the host needs a person"
  result rollback-failed step "$step" error "$error" rollback "failed"
  exit 3
}

HAD_PREVIOUS=false
FAILED_URL=""
run mkdir -p "$WORKDIR"
if [ -f "$CURRENT" ]; then
  HAD_PREVIOUS=true
  run cp -p "$CURRENT" "$PREVIOUS"
fi
run cp "$COMPOSE_FILE" "$CURRENT"

if [ -n "$REGISTRY" ]; then
  if ! ecr_login; then
    restore_file
    result failed step "login" error "ECR login failed" rollback "not-needed"
    exit 1
  fi
fi

if ! run "${COMPOSE[@]}" pull >&2; then
  # Nothing was started: putting the previous file back is the whole rollback.
  restore_file
  result failed step "pull" error "docker compose pull failed" rollback "not-needed"
  exit 1
fi

if ! run "${COMPOSE[@]}" up -d --remove-orphans --wait --wait-timeout "$WAIT_TIMEOUT" >&2; then
  rollback "up" "docker compose up did not become healthy within ${WAIT_TIMEOUT}s"
fi

if ! health_check; then
  rollback "health" "health check failed: ${FAILED_URL}"
fi

if [ "$DRY_RUN" = true ]; then
  result dry-run healthUrls "$HEALTH_URLS"
  exit 0
fi
result deployed healthUrls "$HEALTH_URLS"
