#!/usr/bin/env bash
# Pourover dev deploy: runs one release's compose file on this host, rolls back on failure.
#
# Usage: deploy-dev.sh --app APP --tag TAG --compose-file PATH --workdir DIR
#                      [--health-urls "URL URL"] [--registry HOST] [--wait-timeout N]
#                      [--env-secret NAME --env-file FILE] [--dry-run]
#
# Steps: with --env-secret, write the app's env file (WORKDIR/FILE, mode 0600, replaced atomically) from
# that Secrets Manager secret with the instance role; a missing or empty secret stops the deploy before
# anything changes (step "env"). Keep the current WORKDIR/compose.yaml as the rollback point
# (compose.previous.yaml), copy the new file in, log in to ECR with the instance role (when --registry
# is given), `docker compose pull`,
# `docker compose up -d --wait`, then check each health URL with retries. When pull fails nothing was
# started: the previous file is put back. When `up` or a health check fails the previous file is put
# back and started again, and both results are reported.
#
# Progress goes to stderr; stdout carries only DRY-RUN lines and, last, one JSON result line (SSM keeps
# stdout apart from stderr, and VerifyDev reads the result from stdout only):
#   {"status":"deployed"|"failed"|"rolled-back"|"rollback-failed"|"dry-run", ...}
# Even an unexpected exit prints a failed result line (step: where it stopped).
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
ENV_SECRET=""
ENV_FILE=""
DRY_RUN=false
HEALTH_ATTEMPTS="${POUROVER_HEALTH_ATTEMPTS:-10}"
HEALTH_INTERVAL="${POUROVER_HEALTH_INTERVAL:-3}"

# fd 3: the caller's stdout, for DRY-RUN lines and the result line only. Everything else the script
# or the tools it runs print goes to stderr, so nothing can follow the result line on stdout.
exec 3>&1 1>&2
RESULT_PRINTED=false
STEP=start

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
  printf '%s}\n' "$out" >&3
  RESULT_PRINTED=true
}

on_exit() {
  local code=$?
  if [ "$RESULT_PRINTED" = false ]; then
    result failed step "$STEP" error "deploy-dev.sh stopped unexpectedly (exit status $code)"
  fi
}
trap on_exit EXIT

usage() {
  log "$1"
  log 'usage: deploy-dev.sh --app APP --tag TAG --compose-file PATH --workdir DIR [--health-urls "URL URL"] [--registry HOST] [--wait-timeout N] [--env-secret NAME --env-file FILE] [--dry-run]'
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
    --env-secret) need_value "$@"; ENV_SECRET=$2; shift 2 ;;
    --env-file) need_value "$@"; ENV_FILE=$2; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h | --help)
      sed -n '3,5p' "$0" >&2
      RESULT_PRINTED=true
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
case "$TAG" in *[!A-Za-z0-9.-]*) usage "--tag has unexpected characters" ;; esac
case "$WAIT_TIMEOUT" in '' | *[!0-9]*) usage "--wait-timeout must be a number of seconds" ;; esac
case "$REGISTRY" in *[!A-Za-z0-9.:-]*) usage "--registry must be a registry host" ;; esac
# Secrets Manager secret names: letters, digits and /_+=.@- (never shell syntax).
case "$ENV_SECRET" in *[!A-Za-z0-9/_+=.@-]*) usage "--env-secret must be a Secrets Manager secret name" ;; esac
case "$ENV_FILE" in .* | *[!A-Za-z0-9._-]*) usage "--env-file must be a file name in the workdir" ;; esac
if [ -n "$ENV_SECRET" ] && [ -z "$ENV_FILE" ]; then usage "--env-secret needs --env-file"; fi
if [ -z "$ENV_SECRET" ] && [ -n "$ENV_FILE" ]; then usage "--env-file needs --env-secret"; fi
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

# The AWS region of the pipeline: the registry host's, else the environment's.
aws_region() {
  local region
  region=$(printf '%s' "$REGISTRY" | sed -n 's/^[0-9]*\.dkr\.ecr\.\([a-z0-9-]*\)\.amazonaws\.com.*$/\1/p')
  printf '%s' "${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}}"
}

# env_failed REASON ERROR: the env secret cannot be used; nothing on the host was changed.
env_failed() {
  result failed step "env" reason "$1" secret "$ENV_SECRET" error "$2" rollback "not-needed"
  exit 1
}

# Writes the app's env file from the secret: readable by root only (umask 077, then chmod 0600 to be
# sure), written to a temporary file in the same directory and renamed over the old one, so the
# compose project never sees a half-written file. The secret's text never reaches a log or stdout.
write_env_file() {
  local region target tmp
  region=$(aws_region)
  target="$WORKDIR/$ENV_FILE"
  if [ "$DRY_RUN" = true ]; then
    printf 'DRY-RUN: %s\n' "aws secretsmanager get-secret-value --region $region --secret-id $ENV_SECRET --query SecretString --output text > $target (mode 0600)" >&3
    return 0
  fi
  log "+ aws secretsmanager get-secret-value --region $region --secret-id $ENV_SECRET (written to $target, mode 0600)"
  tmp=$(umask 077 && mktemp "$WORKDIR/.$ENV_FILE.XXXXXX")
  if ! (umask 077 && aws secretsmanager get-secret-value --region "$region" --secret-id "$ENV_SECRET" \
    --query SecretString --output text >"$tmp"); then
    rm -f "$tmp"
    env_failed "env-secret-missing" "cannot read the app env secret $ENV_SECRET (it does not exist, has no value yet, or the instance role may not read it)"
  fi
  # Empty: nothing but blank and comment lines (how the dev host stack creates it), or binary data
  # only (the CLI prints None for a missing SecretString).
  if [ "$(cat "$tmp")" = "None" ] || ! grep -qvE '^[[:space:]]*(#.*)?$' "$tmp"; then
    rm -f "$tmp"
    env_failed "env-secret-empty" "the app env secret $ENV_SECRET is empty: put the app's env file in it"
  fi
  chmod 0600 "$tmp"
  mv -f "$tmp" "$target"
  log "wrote $target from $ENV_SECRET"
}

ecr_login() {
  local region
  region=$(aws_region)
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
STEP=prepare
run mkdir -p "$WORKDIR"
if [ -n "$ENV_SECRET" ]; then
  STEP="env"
  write_env_file
fi
STEP=prepare
if [ -f "$CURRENT" ]; then
  HAD_PREVIOUS=true
  run cp -p "$CURRENT" "$PREVIOUS"
fi
run cp "$COMPOSE_FILE" "$CURRENT"

STEP=login
if [ -n "$REGISTRY" ]; then
  if ! ecr_login; then
    restore_file
    result failed step "login" error "ECR login failed" rollback "not-needed"
    exit 1
  fi
fi

STEP=pull
if ! run "${COMPOSE[@]}" pull >&2; then
  # Nothing was started: putting the previous file back is the whole rollback.
  restore_file
  result failed step "pull" error "docker compose pull failed" rollback "not-needed"
  exit 1
fi

STEP=up
if ! run "${COMPOSE[@]}" up -d --remove-orphans --wait --wait-timeout "$WAIT_TIMEOUT" >&2; then
  rollback "up" "docker compose up did not become healthy within ${WAIT_TIMEOUT}s"
fi

STEP=health
if ! health_check; then
  rollback "health" "health check failed: ${FAILED_URL}"
fi

if [ "$DRY_RUN" = true ]; then
  result dry-run healthUrls "$HEALTH_URLS"
  exit 0
fi
result deployed healthUrls "$HEALTH_URLS"
