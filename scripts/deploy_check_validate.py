"""Validates rendered manifests with kubernetes-validate in strict mode (unknown fields are errors) against one
Kubernetes version. Kinds Kubernetes itself does not define (a CRD's, such as the monitoring stack's) have no
schema there: they are listed as not validated rather than failed.

Usage: deploy_check_validate.py VERSION FILE...
"""
import os
import sys

import kubernetes_validate
import yaml


def main(version, files):
    validated, skipped, errors = 0, set(), []
    for path in files:
        with open(path) as f:
            documents = [d for d in yaml.safe_load_all(f) if d]
        for document in documents:
            what = f"{os.path.basename(path)}: {document.get('kind')} {document.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(document, version, strict=True)
                validated += 1
            except kubernetes_validate.SchemaNotFoundError:
                skipped.add(f"{document.get('apiVersion')} {document.get('kind')}")
            except kubernetes_validate.ValidationError as error:
                path_text = ".".join(str(p) for p in error.path)
                errors.append(f"{what}: {path_text}: {error.message}")
    for error in errors:
        print(f"deploy-check: kubernetes-validate --strict ({version}): {error}", file=sys.stderr)
    if errors:
        sys.exit(1)
    note = f"; not validated (not Kubernetes' own kinds): {', '.join(sorted(skipped))}" if skipped else ""
    print(f"deploy-check: kubernetes-validate --strict: {validated} objects valid for Kubernetes {version}{note}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
