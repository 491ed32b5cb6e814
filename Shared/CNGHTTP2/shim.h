// The system libnghttp2 (Debian: libnghttp2-dev) for Swift: HTTP/2 framing, HPACK, stream and connection state,
// flow control and the protocol's DoS limits. Only the library's own header: no C code of ours.
#ifndef CERTAUTH_CNGHTTP2_SHIM_H
#define CERTAUTH_CNGHTTP2_SHIM_H
#include <nghttp2/nghttp2.h>
#endif
