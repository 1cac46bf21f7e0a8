#pragma once
// The admin endpoint's status page: one HTML document with its style and script inline (no
// external assets). It holds no data itself; its script polls /status.json every second,
// sending the bearer token it finds in the page's fragment (#token=...), which browsers never
// send to the server.
#include <string_view>

namespace moat::admin::detail {

[[nodiscard]] std::string_view status_page() noexcept;

}  // namespace moat::admin::detail
