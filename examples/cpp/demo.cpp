// allot C++ example: a small RAII wrapper over the C API (the client handle and every
// returned string are owned by objects that free them), used on the bundled example flags.
//
//   c++ -std=c++17 -o demo-cpp examples/cpp/demo.cpp $(pkg-config --cflags --libs allot)
//   ./demo-cpp examples/flags/flags.json
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "allot.h"

namespace allot {

// A string returned by the library, freed with allot_string_free when it goes out of scope.
struct StringFree {
    void operator()(char *s) const noexcept { allot_string_free(s); }
};
using String = std::unique_ptr<char, StringFree>;

// An {"error": ...} document returned by the library.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Copies and frees a returned document; throws Error when it is an error envelope.
inline std::string take(char *response) {
    String owned(response);
    std::string document = owned ? owned.get() : "";
    if (document.rfind("{\"error\"", 0) == 0) throw Error(document);
    return document;
}

// Owns a client handle and frees it on destruction; movable, not copyable.
class Client {
  public:
    explicit Client(const std::string &config_json) {
        char *error = nullptr;
        handle_ = allot_init(config_json.c_str(), &error);
        if (handle_ == 0) throw Error(String(error).get());
    }
    Client(Client &&other) noexcept : handle_(std::exchange(other.handle_, 0)) {}
    Client &operator=(Client &&other) noexcept {
        std::swap(handle_, other.handle_);
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() { allot_free(handle_); }  // idempotent; 0 is ignored

    std::string start(std::uint32_t timeout_ms) { return take(allot_start(handle_, timeout_ms)); }
    std::string evaluate(const std::string &request_json) {
        return take(allot_evaluate(handle_, request_json.c_str()));
    }
    std::string status() { return take(allot_status(handle_)); }

  private:
    std::uint64_t handle_ = 0;
};

}  // namespace allot

int main(int argc, char **argv) {
    const std::string flags_path = argc > 1 ? argv[1] : "examples/flags/flags.json";
    try {
        std::cout << "allot " << allot_version() << "\n";
        allot::Client client(R"({"provider":"amplitude","api_key":"demo","flags_path":")" + flags_path + "\"}");
        std::cout << "start: " << client.start(1000) << "\n";
        std::cout << "user: "
                  << client.evaluate(R"({"user":{"user_id":"user-3003","device_id":"d-3003","country":"Canada",)"
                                     R"("user_properties":{"plan":"team"}}})")
                  << "\n";
        try {
            client.evaluate("{\"user\":");
            std::cerr << "an invalid request did not throw\n";
            return 1;
        } catch (const allot::Error &e) {
            std::cout << "invalid request: " << e.what() << "\n";
        }
        allot::Client moved = std::move(client);  // the handle now belongs to `moved`
        std::cout << "status: " << moved.status() << "\n";
    } catch (const allot::Error &e) {
        std::cerr << "allot: " << e.what() << "\n";
        return 1;
    }
    return 0;
}
