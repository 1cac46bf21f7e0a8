// The shared message helper (message.hpp).
#include <moat/http/message.hpp>

namespace moat::http {

response make_response(boost::beast::http::status status, std::string body,
                       std::string_view content_type) {
  response r{status, 11};
  if (!body.empty()) {
    r.set(boost::beast::http::field::content_type,
          boost::beast::string_view(content_type.data(), content_type.size()));
  }
  r.body() = std::move(body);
  return r;
}

}  // namespace moat::http
