"""User-fixable training input problems: reported as {"event":"error","code":"TRAIN_BAD_INPUT"} + exit 2."""


class TrainInputError(Exception):
    code = "TRAIN_BAD_INPUT"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
