"""The local stack: moto server as the AWS endpoint, a local HTTP gateway and the SQS worker.

Everything that exists only to run Intake without AWS lives in this package, never in a
Lambda's code path.

The local stack runs from a checkout: it reads the stack's definitions (infra/definitions.py)
and loads the handlers from functions/. `infra` is not an installed package (it is the CDK
app's source, not a runtime dependency), so when the console script runs from outside the
checkout's root the checkout is put on sys.path here.
"""

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[2]
if (_CHECKOUT / "infra" / "definitions.py").is_file() and str(_CHECKOUT) not in sys.path:
    sys.path.append(str(_CHECKOUT))
