from stack.common.server import serve
from stack.common.settings import Settings
from stack.monitor.app import create_app

settings = Settings.from_env("monitor")
serve(create_app(settings), settings)
