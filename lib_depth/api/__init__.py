"""HTTP API (FastAPI) over the same core as the command line: `/depth-tools/v1/exr`, `/histogram`,
`/midas`, `/info`, and sequence jobs (`/sequence`). Uses `depth/`, `midas/` and `images/` only; knows
no WebUI and no gradio: the WebUI adapter mounts it with `--api`, the standalone server always
(docs/architecture.md "How a job flows"). Modules by job:

- `routes`: `make_router(settings_fn=, limits=, after_midas=, dependencies=, jobs_dir=)`, the APIRouter to
  include; `API_PREFIX`; `http_error` (which mistake gets which 4xx).
- `work`: what each route does without HTTP (`exr_answer`, `histogram_answer`, `midas_answer`,
  `info_answer`), and the pixel bound checked from the header before decoding.
- `uploads`: JSON (base64) or multipart bodies to a temporary file within `ApiLimits`.
- `models`: request/response schemas for pydantic 1.10 and 2.x (the OpenAPI page).
- `sequence_input` (a sequence upload -> its job folder, keyed by its bytes and options, and the
  frames in it), `sequence_run` (one job's work over the command line's sequence cores, its
  `Progress` and interrupt), `sequence_jobs` (the jobs by id, one background thread, the result zip).

Public: `make_router`, `ApiLimits`, `API_PREFIX`, `DEFAULT_MAX_UPLOAD`, `DEFAULT_MAX_PIXELS`.
"""

from .routes import API_PREFIX, make_router
from .uploads import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD, ApiLimits

__all__ = ["API_PREFIX", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_UPLOAD", "ApiLimits", "make_router"]
