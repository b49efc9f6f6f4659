/* APNs-like HTTP/2 sink in C (nghttp2 + libevent + OpenSSL) that records when each request
 * arrived: the timing sink of the latency and fan-out benchmarks.
 *
 * Usage: timing_sink PORT KEY_PEM CERT_PEM RECEIPTS_FILE
 * POST /3/device/<64 hex> -> 200 with an apns-id (echoed, else a made-up one, as APNs does);
 * any other path -> 400 {"reason":"BadDeviceToken"}; other methods -> 405.
 * For every request one line "<CLOCK_MONOTONIC ns> <token>\n" goes to RECEIPTS_FILE, stamped
 * when the request's HEADERS frame begins (the clock of Python's time.monotonic_ns). The file
 * is flushed every 20 ms and on SIGTERM/SIGINT. Listens on 127.0.0.1 only.
 *
 * Why C: the Node sink this replaces spent 40-80 us of CPU per request, so a burst of 1,000
 * requests took it 40+ ms to stamp, which swamped the latency being measured.
 */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TOKEN_MAX 64
#define APNS_ID_MAX 64

static FILE *receipts;
static unsigned long long served;

typedef struct {
    long long arrived_ns;
    char method[8];
    char token[TOKEN_MAX + 1];
    int token_ok;
    char apns_id[APNS_ID_MAX + 1];
} request;

typedef struct {
    struct bufferevent *bev;
    nghttp2_session *session;
} connection;

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int is_hex64(const uint8_t *value, size_t length) {
    if (length != TOKEN_MAX) return 0;
    for (size_t i = 0; i < length; i++) {
        uint8_t c = value[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return 1;
}

static ssize_t send_cb(nghttp2_session *session, const uint8_t *data, size_t length, int flags,
                       void *user_data) {
    connection *conn = user_data;
    (void)session;
    (void)flags;
    bufferevent_write(conn->bev, data, length);
    return (ssize_t)length;
}

static int begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame,
                            void *user_data) {
    (void)user_data;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    request *req = calloc(1, sizeof(request));
    if (req == NULL) return NGHTTP2_ERR_CALLBACK_FAILURE;
    req->arrived_ns = now_ns();
    strcpy(req->token, "-");
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, req);
    return 0;
}

static int header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data) {
    static const char prefix[] = "/3/device/";
    const size_t prefix_len = sizeof(prefix) - 1;
    (void)flags;
    (void)user_data;
    request *req = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (req == NULL) return 0;
    if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
        if (valuelen > prefix_len && memcmp(value, prefix, prefix_len) == 0 &&
            is_hex64(value + prefix_len, valuelen - prefix_len)) {
            memcpy(req->token, value + prefix_len, TOKEN_MAX);
            req->token[TOKEN_MAX] = '\0';
            req->token_ok = 1;
        }
    } else if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
        size_t n = valuelen < sizeof(req->method) - 1 ? valuelen : sizeof(req->method) - 1;
        memcpy(req->method, value, n);
        req->method[n] = '\0';
    } else if (namelen == 7 && memcmp(name, "apns-id", 7) == 0 && valuelen <= APNS_ID_MAX) {
        memcpy(req->apns_id, value, valuelen);
        req->apns_id[valuelen] = '\0';
    }
    return 0;
}

static ssize_t body_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                       uint32_t *data_flags, nghttp2_data_source *source, void *user_data) {
    const char *body = source->ptr;
    size_t n = strlen(body);
    (void)session;
    (void)stream_id;
    (void)user_data;
    if (n > length) n = length;
    memcpy(buf, body, n);
    *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static void respond_error(nghttp2_session *session, int32_t stream_id, const char *status,
                          const char *body) {
    nghttp2_nv headers[] = {
        {(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/json", 12, 16, NGHTTP2_NV_FLAG_NONE},
    };
    nghttp2_data_provider provider = {.source.ptr = (void *)body, .read_callback = body_cb};
    nghttp2_submit_response(session, stream_id, headers, 2, &provider);
}

static int frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data) {
    (void)user_data;
    if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    int32_t stream_id = frame->hd.stream_id;
    request *req = nghttp2_session_get_stream_user_data(session, stream_id);
    if (req == NULL) return 0;
    fprintf(receipts, "%lld %s\n", req->arrived_ns, req->token);
    if (strcmp(req->method, "POST") != 0) {
        respond_error(session, stream_id, "405", "{\"reason\":\"MethodNotAllowed\"}");
    } else if (!req->token_ok) {
        respond_error(session, stream_id, "400", "{\"reason\":\"BadDeviceToken\"}");
    } else {
        if (req->apns_id[0] == '\0')
            snprintf(req->apns_id, sizeof(req->apns_id), "00000000-0000-4000-8000-%012llx",
                     ++served);
        nghttp2_nv headers[] = {
            {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(uint8_t *)"apns-id", (uint8_t *)req->apns_id, 7, strlen(req->apns_id),
             NGHTTP2_NV_FLAG_NO_INDEX},
        };
        nghttp2_submit_response(session, stream_id, headers, 2, NULL);
    }
    return 0;
}

static int stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data) {
    (void)error_code;
    (void)user_data;
    free(nghttp2_session_get_stream_user_data(session, stream_id));
    nghttp2_session_set_stream_user_data(session, stream_id, NULL);
    return 0;
}

static void close_connection(connection *conn) {
    nghttp2_session_del(conn->session);
    bufferevent_free(conn->bev);
    free(conn);
}

static void flush_session(connection *conn) {
    if (nghttp2_session_send(conn->session) != 0) close_connection(conn);
}

static void read_cb(struct bufferevent *bev, void *ptr) {
    connection *conn = ptr;
    struct evbuffer *input = bufferevent_get_input(bev);
    size_t length = evbuffer_get_length(input);
    unsigned char *data = evbuffer_pullup(input, -1);
    ssize_t used = nghttp2_session_mem_recv(conn->session, data, length);
    if (used < 0) {
        close_connection(conn);
        return;
    }
    evbuffer_drain(input, (size_t)used);
    flush_session(conn);
}

static void event_cb(struct bufferevent *bev, short events, void *ptr) {
    connection *conn = ptr;
    if (events & BEV_EVENT_CONNECTED) {
        const unsigned char *alpn = NULL;
        unsigned int alpn_len = 0;
        SSL_get0_alpn_selected(bufferevent_openssl_get_ssl(bev), &alpn, &alpn_len);
        if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
            close_connection(conn);
            return;
        }
        nghttp2_settings_entry settings[] = {
            {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000},
        };
        nghttp2_submit_settings(conn->session, NGHTTP2_FLAG_NONE, settings, 1);
        flush_session(conn);
        return;
    }
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) close_connection(conn);
}

static void accept_cb(struct evconnlistener *listener, evutil_socket_t fd, struct sockaddr *addr,
                      int addrlen, void *arg) {
    SSL_CTX *ctx = arg;
    (void)addr;
    (void)addrlen;
    struct event_base *base = evconnlistener_get_base(listener);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));  /* no Nagle stalls */
    connection *conn = calloc(1, sizeof(connection));
    SSL *ssl = SSL_new(ctx);
    conn->bev = bufferevent_openssl_socket_new(base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                               BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    nghttp2_session_callbacks *callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, send_cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, frame_recv_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, stream_close_cb);
    nghttp2_session_server_new(&conn->session, callbacks, conn);
    nghttp2_session_callbacks_del(callbacks);
    bufferevent_setcb(conn->bev, read_cb, NULL, event_cb, conn);
    bufferevent_enable(conn->bev, EV_READ | EV_WRITE);
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    int found = nghttp2_select_next_protocol((unsigned char **)out, outlen, in, inlen);
    return found == 1 ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}

static void flush_receipts(evutil_socket_t fd, short events, void *arg) {
    (void)fd;
    (void)events;
    (void)arg;
    fflush(receipts);
}

static void stop(evutil_socket_t fd, short events, void *arg) {
    (void)fd;
    (void)events;
    fflush(receipts);
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT KEY_PEM CERT_PEM RECEIPTS_FILE\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    receipts = fopen(argv[4], "w");
    if (receipts == NULL) {
        perror("receipts file");
        return 1;
    }
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_certificate_chain_file(ctx, argv[3]) != 1) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);

    struct event_base *base = event_base_new();
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct evconnlistener *listener =
        evconnlistener_new_bind(base, accept_cb, ctx, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                64, (struct sockaddr *)&sin, sizeof(sin));
    if (listener == NULL) {
        perror("listen");
        return 1;
    }
    struct timeval every = {0, 20000};
    event_add(event_new(base, -1, EV_PERSIST, flush_receipts, NULL), &every);
    event_add(evsignal_new(base, SIGTERM, stop, base), NULL);
    event_add(evsignal_new(base, SIGINT, stop, base), NULL);
    event_base_dispatch(base);
    fclose(receipts);
    return 0;
}
