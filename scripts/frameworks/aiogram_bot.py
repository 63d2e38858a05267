"""The example bot's subscribed-chat handler in aiogram 3, for scripts/benchmark_frameworks.py.

Runs in the benchmark's own virtualenv (.venv-bench). The same work as ours: read the chat's
state, write it back incremented, reply; state in Redis (the benchmark starts it with AOF
fsync always) or, without REDIS_URL, in aiogram's MemoryStorage (lost with the process); the
webhook answered after the handler (handle_in_background=False).
"""

import os

from aiogram import Bot, Dispatcher, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.types import Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

router = Router()


@router.message()
async def follow(message: Message, state: FSMContext) -> None:
    data = await state.get_data()
    seen = int(data.get("seen", 0)) + 1
    await state.update_data(seen=seen)
    await message.answer(f"got 1 message(s), latest: {message.text} ({seen} in this thread)")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_BASE"]))
    bot = Bot(os.environ["TELEGRAM_BOT_TOKEN"], session=session)
    redis_url = os.environ.get("REDIS_URL")
    storage = RedisStorage.from_url(redis_url) if redis_url else MemoryStorage()
    dispatcher = Dispatcher(storage=storage)
    dispatcher.include_router(router)
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher,
        bot=bot,
        secret_token=os.environ["TELEGRAM_WEBHOOK_SECRET"],
        handle_in_background=False,
    ).register(app, path="/webhooks/telegram")
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=int(os.environ["PORT"]), print=None)


if __name__ == "__main__":
    main()
