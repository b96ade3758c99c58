"""HTTP: the route table, thin handlers, middleware and templates."""

from starlette.convertors import IntegerConvertor, register_url_convertor

from portal.models.base import MAX_BIGINT, MAX_INTEGER


def _at_most(bound: int) -> str:
    """A regex for the decimal numbers 0..bound (leading zeros allowed up to bound's length)."""
    top = str(bound)
    same_length = [
        top[:i] + f"[0-{int(d) - 1}]" + f"[0-9]{{{len(top) - i - 1}}}" for i, d in enumerate(top) if d != "0"
    ]
    return "|".join([f"[0-9]{{1,{len(top) - 1}}}", *same_length, top])


class IdConvertor(IntegerConvertor):
    """`{id:int}`: a number an Integer column holds on both stores. A larger one matches no route, so it
    is a 404, never an overflow inside the store (a 500). Registered before any route is built, so every
    `:int` of the route table gets it."""

    regex = _at_most(MAX_INTEGER)


class BigIdConvertor(IntegerConvertor):
    """`{id:bigint}`: the same for BigInteger columns (log record ids)."""

    regex = _at_most(MAX_BIGINT)


register_url_convertor("int", IdConvertor())
register_url_convertor("bigint", BigIdConvertor())
