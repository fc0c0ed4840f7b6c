from stack.common.server import serve
from stack.common.settings import Settings
from stack.orders.app import create_app

settings = Settings.from_env("orders")
serve(create_app(settings), settings)
