/* status.c: names for the status codes of status.h. */
#include "core/status.h"

const char *dyn_strerror(int status)
{
    switch (status) {
    case DYN_OK: return "ok";
    case DYN_ENOMEM: return "out of memory";
    case DYN_EFULL: return "bounded table or queue is full";
    case DYN_ETIMEDOUT: return "request timed out";
    case DYN_ENOQUORUM: return "quorum not reached";
    case DYN_EBADMSG: return "malformed message";
    case DYN_ENOTFOUND: return "not found";
    case DYN_EINVAL: return "invalid argument";
    case DYN_ETOOBIG: return "too big";
    case DYN_ESIBLINGS: return "too many siblings";
    case DYN_EVERSION: return "unsupported wire format version";
    case DYN_EUNAVAIL: return "not enough reachable nodes";
    case DYN_ECORRUPT: return "a stored record failed its integrity check";
    case DYN_EIO: return "input/output error";
    case DYN_EAUTH: return "a datagram failed authentication";
    case DYN_ENOKEY: return "a datagram under an unknown key id";
    case DYN_ECLUSTER: return "a datagram from another cluster";
    case DYN_EREPLAY: return "a replayed or too old datagram";
    case DYN_EMOVED: return "the key's owners changed under the request; retry";
    default: return "unknown status";
    }
}
