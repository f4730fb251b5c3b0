# The image that cluster/*.yaml (ray up) and k8s/*.yaml (KubeRay) run: Ray's own GPU image at
# the Ray version lightly_ray is tested with, plus lightly_ray with its cloud storage extras
# (boto3, google-cloud-storage, azure-storage-blob and azure-identity) and jobs/.
# tests/unit/test_cluster_configs.py checks that this tag, the Ray in the test environment,
# pyproject.toml's ray bound, the launcher configs and the KubeRay manifests all agree.
#
#   docker build -t REGISTRY/lightly-ray:0.1.0-ray2.60.0-py311-gpu .
#   docker push REGISTRY/lightly-ray:0.1.0-ray2.60.0-py311-gpu
#
# The tag is <lightly_ray version>-ray<Ray version>-py311-gpu. The -gpu base also runs on CPU
# nodes (the head), so one image serves every node.
FROM rayproject/ray:2.60.0-py311-gpu

# The base image's user (ray, group users) and Python (conda, on PATH) run everything. The folder
# is made first because WORKDIR would create it owned by root, where pip cannot build.
RUN mkdir -p /home/ray/lightly-ray
WORKDIR /home/ray/lightly-ray

# Dependencies first, in a layer of their own (torch alone is gigabytes): an empty package with
# the real pyproject.toml resolves them, so a change in lightly_ray/ does not reinstall them.
# The constraint keeps the base image's Ray: pip must not swap it for another wheel.
COPY --chown=ray:users pyproject.toml README.md ./
RUN mkdir lightly_ray && touch lightly_ray/__init__.py \
    && python -c "import ray; print(f'ray=={ray.__version__}')" > /tmp/ray-constraint.txt \
    && pip install --no-cache-dir --constraint /tmp/ray-constraint.txt ".[cloud]" \
    && pip uninstall --yes lightly-ray \
    && rm -rf lightly_ray build lightly_ray.egg-info

COPY --chown=ray:users lightly_ray ./lightly_ray
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build lightly_ray.egg-info \
    && python -c "import lightly_ray, ray; print('lightly_ray', lightly_ray.__version__, 'on ray', ray.__version__)"

# The Ray job entrypoints; a RayJob calls them by absolute path:
# python /home/ray/lightly-ray/jobs/curate.py ...
COPY --chown=ray:users jobs ./jobs
