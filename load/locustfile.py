"""The Canvas AI Conversations load suite, for people who know locust.

    locust -f load/locustfile.py --host http://127.0.0.1:8080            # web UI, against a running mock
    locust -f load/locustfile.py --target target.toml --headless -u 50 -r 5 -t 2m --shape ramp
    locust -f load/locustfile.py --target target.toml --processes 4      # master + 4 workers

``canvas-ai-harness load --help`` lists the suite's own options, each with a sentence of help; locust's
web UI shows the same help under "Custom parameters". (``locust -f load/locustfile.py --help`` does not
list them: locust answers ``--help`` before it loads the file.)
The scenarios, shapes and measures live in ``src/canvas_ai_harness/load/``;
``canvas-ai-harness load`` runs the same classes.
"""

from canvas_ai_harness.load.locustfile import CommandLineShape, StudentUser, TeacherUser

__all__ = ["CommandLineShape", "StudentUser", "TeacherUser"]
