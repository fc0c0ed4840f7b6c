from stack.common.server import serve
from stack.common.settings import Settings
from stack.inventory.app import create_app

settings = Settings.from_env("inventory")
serve(create_app(settings), settings)
