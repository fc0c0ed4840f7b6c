from stack.common.server import serve
from stack.common.settings import Settings
from stack.voter.app import create_app

settings = Settings.from_env("voter")
serve(create_app(settings), settings)
