#!/usr/bin/env bash
# Prints the secrets deploy/compose.yaml needs, fresh, as an env file:
#   deploy/compose-secrets.sh > deploy/.env && chmod 600 deploy/.env
# Keep the file: the PII keys decrypt callers' names and phones, and the pepper checks every
# API key; losing them loses those. See deploy/OPERATIONS.md for rotating them.
set -euo pipefail
b64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
echo "POSTGRES_PASSWORD=$(b64 24 | tr '+/' '-_')"
echo "KOMEK_AUTH__KEY_PEPPER=$(b64 32)"
echo "KOMEK_AUTH__SERVICE_SECRET=$(b64 32)"
echo "KOMEK_AUTH__BOOTSTRAP_ADMIN_KEY=$(b64 33 | tr '+/' '-_')"
echo "KOMEK_PII__KEYS__K1=$(b64 32)"
echo "KOMEK_PII__INDEX_KEY=$(b64 32)"
