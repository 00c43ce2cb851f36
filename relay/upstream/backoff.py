import handlers.status  # noqa
