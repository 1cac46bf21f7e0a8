#pragma once
/// @file
/// The framing part of moat in one include: packet modes (Erlang's `{packet, N}`), the
/// decoder and encoder, their error codes, and the delivery modes (`{active, ...}`).
/// Framing does no I/O: the tls socket feeds it bytes and writes what it encodes.

#include "moat/framing/decoder.hpp"
#include "moat/framing/delivery.hpp"
#include "moat/framing/encoder.hpp"
#include "moat/framing/errors.hpp"
#include "moat/framing/packet_mode.hpp"
