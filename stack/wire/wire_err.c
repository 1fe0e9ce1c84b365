/*
 * wire_err.c — names of the wire parse results.
 *
 * Contract: pure; returns a static string for every enum fn_wire_err value (and a fixed
 * string for values outside it).  Any core may call it.
 */
#include "wire/fn_wire.h"

const char *fn_wire_strerror(enum fn_wire_err e)
{
    switch (e) {
    case FN_WIRE_OK:
        return "ok";
    case FN_WIRE_TRUNCATED:
        return "truncated header";
    case FN_WIRE_BAD_VERSION:
        return "bad IP version";
    case FN_WIRE_BAD_HLEN:
        return "bad header length";
    case FN_WIRE_BAD_LEN:
        return "bad length field";
    case FN_WIRE_BAD_CSUM:
        return "bad checksum";
    case FN_WIRE_BAD_FORMAT:
        return "malformed field";
    }
    return "unknown wire error";
}
