/* nmc_image.c: see nmc_image.h. Every field is read byte by byte as little-endian, so the
 * code runs on any host regardless of its own byte order or alignment rules. */
#include "nmc_image.h"

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

/* ---------------------------------------------------------------- CRC-32 (IEEE 802.3, reflected) */

uint32_t nmc_crc32_update(uint32_t crc, const uint8_t *data, size_t size)
{
    size_t i;
    int bit;
    crc = ~crc;
    for (i = 0; i < size; i++) {
        crc ^= data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

static const uint32_t K256[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

static void sha256_block(uint32_t state[8], const uint8_t block[64])
{
    uint32_t w[64], a, b, c, d, e, f, g, h, t1, t2;
    unsigned i;
    for (i = 0; i < 16; i++) {
        w[i] = ((uint32_t)block[4 * i] << 24) | ((uint32_t)block[4 * i + 1] << 16)
             | ((uint32_t)block[4 * i + 2] << 8) | (uint32_t)block[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = state[0]; b = state[1]; c = state[2]; d = state[3];
    e = state[4]; f = state[5]; g = state[6]; h = state[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }
    state[0] += a; state[1] += b; state[2] += c; state[3] += d;
    state[4] += e; state[5] += f; state[6] += g; state[7] += h;
}

void nmc_sha256_init(nmc_sha256_t *ctx)
{
    static const uint32_t initial[8] = {
        0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au, 0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
    };
    unsigned i;
    for (i = 0; i < 8; i++) {
        ctx->state[i] = initial[i];
    }
    ctx->length = 0;
    ctx->used = 0;
}

void nmc_sha256_update(nmc_sha256_t *ctx, const uint8_t *data, size_t size)
{
    size_t i;
    for (i = 0; i < size; i++) {
        ctx->buffer[ctx->used++] = data[i];
        if (ctx->used == 64) {
            sha256_block(ctx->state, ctx->buffer);
            ctx->used = 0;
        }
    }
    ctx->length += (uint64_t)size;
}

void nmc_sha256_final(nmc_sha256_t *ctx, uint8_t digest[32])
{
    uint64_t bits = ctx->length * 8u;
    unsigned i;
    ctx->buffer[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        while (ctx->used < 64) {
            ctx->buffer[ctx->used++] = 0;
        }
        sha256_block(ctx->state, ctx->buffer);
        ctx->used = 0;
    }
    while (ctx->used < 56) {
        ctx->buffer[ctx->used++] = 0;
    }
    for (i = 0; i < 8; i++) {
        ctx->buffer[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    }
    sha256_block(ctx->state, ctx->buffer);
    for (i = 0; i < 32; i++) {
        digest[i] = (uint8_t)(ctx->state[i / 4] >> (24 - 8 * (i % 4)));
    }
}

/* ---------------------------------------------------------------- image */

const char *nmc_status_name(nmc_status_t status)
{
    switch (status) {
    case NMC_OK: return "OK";
    case NMC_ERR_MAGIC: return "MAGIC";
    case NMC_ERR_TRUNCATED: return "TRUNCATED";
    case NMC_ERR_VERSION: return "VERSION";
    case NMC_ERR_BOUNDS: return "BOUNDS";
    case NMC_ERR_CRC: return "CRC";
    case NMC_ERR_SECTION_CRC: return "SECTION_CRC";
    case NMC_ERR_HASH: return "HASH";
    case NMC_ERR_NOT_FOUND: return "NOT_FOUND";
    case NMC_ERR_BLOCK: return "BLOCK";
    case NMC_ERR_RESERVED: return "RESERVED";
    }
    return "UNKNOWN";
}

uint32_t nmc_signed_size(const nmc_image_t *image)
{
    return image->trailer_offset + NMC_TRAILER_OFF_SIGNATURE;
}

static int all_zero(const uint8_t *p, uint32_t size)
{
    uint8_t acc = 0;
    uint32_t i;
    for (i = 0; i < size; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

/* Reserved header fields, unknown flag bits and the trailer's reserved word must be zero; an
 * unsigned image carries no key id and no signature bytes. */
static nmc_status_t check_reserved(const nmc_image_t *image)
{
    const uint8_t *d = image->data, *t = image->data + image->trailer_offset;
    uint32_t trailer_flags = rd32(t + NMC_TRAILER_OFF_FLAGS);
    if (rd16(d + NMC_HEADER_OFF_RESERVED0) != 0 || !all_zero(d + NMC_HEADER_OFF_RESERVED1, 4)
        || !all_zero(d + NMC_HEADER_OFF_RESERVED2, 8) || !all_zero(d + NMC_HEADER_OFF_RESERVED3, 8)
        || (image->flags & ~NMC_FLAGS_KNOWN) != 0 || trailer_flags != (image->flags & NMC_FLAG_SIGNED)
        || rd32(t + NMC_TRAILER_OFF_RESERVED) != 0 || image->security_version > NMC_MAX_SECURITY_VERSION) {
        return NMC_ERR_RESERVED;
    }
    if ((image->flags & NMC_FLAG_SIGNED) == 0 && (!all_zero(image->key_id, 32) || !all_zero(image->signature, 64))) {
        return NMC_ERR_RESERVED;
    }
    return NMC_OK;
}

static void read_entry(const nmc_image_t *image, uint32_t index, nmc_section_t *out)
{
    const uint8_t *e = image->data + image->table_offset + (size_t)index * image->entry_size;
    out->type = rd16(e + NMC_SECTION_ENTRY_OFF_TYPE);
    out->instance = rd32(e + NMC_SECTION_ENTRY_OFF_INSTANCE);
    out->offset = rd32(e + NMC_SECTION_ENTRY_OFF_OFFSET);
    out->size = rd32(e + NMC_SECTION_ENTRY_OFF_SIZE);
    out->block_count = rd32(e + NMC_SECTION_ENTRY_OFF_BLOCK_COUNT);
    out->payload = image->data + out->offset;
}

nmc_status_t nmc_open(nmc_image_t *image, const uint8_t *data, uint32_t size)
{
    static const uint8_t magic[NMC_MAGIC_SIZE] = NMC_MAGIC_BYTES;
    static const uint8_t trailer_magic[4] = NMC_TRAILER_MAGIC_BYTES;
    static const uint8_t zero[4] = {0, 0, 0, 0};
    uint32_t i, j, header_size, total, table_end, crc;
    uint8_t digest[32];
    nmc_sha256_t sha;

    for (i = 0; i < NMC_MAGIC_SIZE; i++) {
        if (i >= size) {
            return NMC_ERR_TRUNCATED;
        }
        if (data[i] != magic[i]) {
            return NMC_ERR_MAGIC;
        }
    }
    if (size < NMC_HEADER_SIZE) {
        return NMC_ERR_TRUNCATED;
    }
    image->data = data;
    image->size = size;
    image->version_major = rd16(data + NMC_HEADER_OFF_VERSION_MAJOR);
    image->version_minor = rd16(data + NMC_HEADER_OFF_VERSION_MINOR);
    header_size = rd16(data + NMC_HEADER_OFF_HEADER_SIZE);
    image->entry_size = rd16(data + NMC_HEADER_OFF_ENTRY_SIZE);
    image->flags = rd32(data + NMC_HEADER_OFF_FLAGS);
    image->family = rd16(data + NMC_HEADER_OFF_FAMILY);
    image->section_count = rd32(data + NMC_HEADER_OFF_SECTION_COUNT);
    image->table_offset = rd32(data + NMC_HEADER_OFF_TABLE_OFFSET);
    image->trailer_offset = rd32(data + NMC_HEADER_OFF_TRAILER_OFFSET);
    image->crc32 = rd32(data + NMC_HEADER_OFF_CRC32);
    total = rd32(data + NMC_HEADER_OFF_TOTAL_SIZE);
    if (image->version_major != NMC_VERSION_MAJOR || header_size < NMC_HEADER_SIZE
        || image->entry_size < NMC_SECTION_ENTRY_SIZE) {
        return NMC_ERR_VERSION;
    }
    if (size < total) {
        return NMC_ERR_TRUNCATED;
    }
    if (size > total || image->trailer_offset % NMC_ALIGN != 0 || image->trailer_offset < header_size
        || (uint64_t)image->trailer_offset + NMC_TRAILER_SIZE != total) {
        return NMC_ERR_BOUNDS;
    }
    if (image->table_offset % NMC_ALIGN != 0 || image->table_offset < header_size
        || (uint64_t)image->table_offset + (uint64_t)image->section_count * image->entry_size > image->trailer_offset) {
        return NMC_ERR_BOUNDS;
    }
    table_end = image->table_offset + image->section_count * image->entry_size;

    crc = nmc_crc32_update(0, data, NMC_HEADER_OFF_CRC32);
    crc = nmc_crc32_update(crc, zero, 4);
    crc = nmc_crc32_update(crc, data + NMC_HEADER_OFF_CRC32 + 4, image->trailer_offset - NMC_HEADER_OFF_CRC32 - 4);
    if (crc != image->crc32) {
        return NMC_ERR_CRC;
    }
    for (i = 0; i < 4; i++) {
        if (data[image->trailer_offset + NMC_TRAILER_OFF_MAGIC + i] != trailer_magic[i]) {
            return NMC_ERR_BOUNDS;
        }
    }
    nmc_sha256_init(&sha);
    nmc_sha256_update(&sha, data, image->trailer_offset + NMC_TRAILER_OFF_SHA256);
    nmc_sha256_final(&sha, digest);
    for (i = 0; i < 32; i++) {
        if (digest[i] != data[image->trailer_offset + NMC_TRAILER_OFF_SHA256 + i]) {
            return NMC_ERR_HASH;
        }
    }
    image->security_version = rd32(data + image->trailer_offset + NMC_TRAILER_OFF_SECURITY_VERSION);
    image->key_id = data + image->trailer_offset + NMC_TRAILER_OFF_KEY_ID;
    image->signature = data + image->trailer_offset + NMC_TRAILER_OFF_SIGNATURE;
    if (check_reserved(image) != NMC_OK) {
        return NMC_ERR_RESERVED;
    }
    for (i = 0; i < image->section_count; i++) {
        nmc_section_t s, t;
        const uint8_t *e = data + image->table_offset + (size_t)i * image->entry_size;
        if (rd16(e + NMC_SECTION_ENTRY_OFF_FLAGS) != 0 || !all_zero(e + NMC_SECTION_ENTRY_OFF_RESERVED, 8)) {
            return NMC_ERR_RESERVED;
        }
        read_entry(image, i, &s);
        if (s.offset % NMC_ALIGN != 0 || s.size % NMC_ALIGN != 0 || s.offset < table_end
            || (uint64_t)s.offset + s.size > image->trailer_offset
            || s.block_count > s.size / NMC_BLOCK_HEADER_SIZE) {
            return NMC_ERR_BOUNDS;
        }
        for (j = 0; j < i; j++) {  /* quadratic, but no heap and tables are short */
            read_entry(image, j, &t);
            if (s.offset < t.offset + t.size && t.offset < s.offset + s.size) {
                return NMC_ERR_BOUNDS;
            }
            if (s.type == t.type && s.instance == t.instance) {
                return NMC_ERR_BOUNDS;  /* listed twice: which one a lookup finds would be a guess */
            }
        }
        crc = rd32(image->data + image->table_offset + (size_t)i * image->entry_size + NMC_SECTION_ENTRY_OFF_CRC32);
        if (nmc_crc32_update(0, s.payload, s.size) != crc) {
            return NMC_ERR_SECTION_CRC;
        }
    }
    return NMC_OK;
}

nmc_status_t nmc_section_at(const nmc_image_t *image, uint32_t index, nmc_section_t *out)
{
    if (index >= image->section_count) {
        return NMC_ERR_NOT_FOUND;
    }
    read_entry(image, index, out);
    return NMC_OK;
}

nmc_status_t nmc_find_section(const nmc_image_t *image, uint16_t type, uint32_t instance, nmc_section_t *out)
{
    uint32_t i;
    for (i = 0; i < image->section_count; i++) {
        read_entry(image, i, out);
        if (out->type == type && out->instance == instance) {
            return NMC_OK;
        }
    }
    return NMC_ERR_NOT_FOUND;
}

static uint32_t dtype_size(uint8_t dtype)
{
    switch (dtype) {
    case NMC_DTYPE_U8: case NMC_DTYPE_I8: case NMC_DTYPE_UTF8: return 1;
    case NMC_DTYPE_U16: case NMC_DTYPE_I16: return 2;
    case NMC_DTYPE_U32: case NMC_DTYPE_I32: return 4;
    case NMC_DTYPE_U64: case NMC_DTYPE_I64: case NMC_DTYPE_F64: return 8;
    default: return 0;
    }
}

nmc_status_t nmc_next_block(const nmc_section_t *section, uint32_t *cursor, nmc_block_t *out)
{
    const uint8_t *h;
    uint32_t pos = *cursor, item, k;
    uint64_t count = 1, nbytes;
    if (pos >= section->size) {
        return NMC_ERR_NOT_FOUND;
    }
    if (section->size - pos < NMC_BLOCK_HEADER_SIZE) {
        return NMC_ERR_BLOCK;
    }
    h = section->payload + pos;
    out->tag = rd16(h + NMC_BLOCK_HEADER_OFF_TAG);
    out->dtype = h[NMC_BLOCK_HEADER_OFF_DTYPE];
    out->ndim = h[NMC_BLOCK_HEADER_OFF_NDIM];
    out->dim[0] = rd32(h + NMC_BLOCK_HEADER_OFF_DIM0);
    out->dim[1] = rd32(h + NMC_BLOCK_HEADER_OFF_DIM1);
    out->dim[2] = rd32(h + NMC_BLOCK_HEADER_OFF_DIM2);
    item = dtype_size(out->dtype);
    if (item == 0 || out->ndim > 3) {
        return NMC_ERR_BLOCK;
    }
    for (k = 0; k < out->ndim; k++) {
        count *= out->dim[k];
        if (count > section->size) {  /* stops the product before it can overflow */
            return NMC_ERR_BLOCK;
        }
    }
    nbytes = count * item;
    if (nbytes > section->size - pos - NMC_BLOCK_HEADER_SIZE) {
        return NMC_ERR_BLOCK;
    }
    out->count = (uint32_t)count;
    out->nbytes = (uint32_t)nbytes;
    out->data = h + NMC_BLOCK_HEADER_SIZE;
    *cursor = pos + (uint32_t)((NMC_BLOCK_HEADER_SIZE + nbytes + NMC_ALIGN - 1) / NMC_ALIGN * NMC_ALIGN);
    return NMC_OK;
}

nmc_status_t nmc_state_layout(const nmc_image_t *image, uint32_t *version, const uint8_t **digest)
{
    nmc_section_t state;
    nmc_block_t block;
    uint32_t cursor = 0;
    nmc_status_t status = nmc_find_section(image, NMC_SECTION_STATE, 0, &state);
    if (status != NMC_OK) {
        return status;
    }
    status = nmc_next_block(&state, &cursor, &block);
    if (status != NMC_OK || block.tag != NMC_TAG_STATE_VERSION || block.dtype != NMC_DTYPE_U32 || block.ndim != 0) {
        return NMC_ERR_BLOCK;
    }
    *version = rd32(block.data);
    status = nmc_next_block(&state, &cursor, &block);
    if (status != NMC_OK || block.tag != NMC_TAG_STATE_HASH || block.dtype != NMC_DTYPE_U8 || block.count != 32) {
        return NMC_ERR_BLOCK;
    }
    *digest = block.data;
    return NMC_OK;
}

/* ---------------------------------------------------------------- THERMAL (format 2.1) */

static int32_t rd_i32(const uint8_t *p)
{
    uint32_t u = rd32(p);
    /* two's complement without relying on an implementation-defined conversion */
    return u >= 0x80000000u ? (int32_t)-(int32_t)(~u) - 1 : (int32_t)u;
}

int64_t nmc_block_int(const nmc_block_t *block, uint32_t index)
{
    uint32_t size = dtype_size(block->dtype);
    const uint8_t *p;
    uint64_t u = 0;
    uint32_t k;
    if (index >= block->count || size == 0 || block->dtype == NMC_DTYPE_UTF8 || block->dtype == NMC_DTYPE_F64) {
        return 0;
    }
    p = block->data + (size_t)index * size;
    for (k = 0; k < size; k++) {
        u |= (uint64_t)p[k] << (8u * k);
    }
    switch (block->dtype) {
    case NMC_DTYPE_I8: return u >= 0x80u ? (int64_t)u - 0x100 : (int64_t)u;
    case NMC_DTYPE_I16: return u >= 0x8000u ? (int64_t)u - 0x10000 : (int64_t)u;
    case NMC_DTYPE_I32: return u >= 0x80000000u ? (int64_t)u - 0x100000000 : (int64_t)u;
    case NMC_DTYPE_I64: return u >= 0x8000000000000000u ? -(int64_t)(~u) - 1 : (int64_t)u;
    default: return (int64_t)u;  /* unsigned: a U64 beyond 2^63 - 1 is no threshold the reader accepts */
    }
}

int32_t nmc_thermal_edge(const nmc_thermal_t *thermal, uint32_t index)
{
    return index <= thermal->bands ? rd_i32(thermal->edges + 4u * index) : 0;
}

nmc_status_t nmc_thermal_open(const nmc_image_t *image, nmc_thermal_t *out)
{
    nmc_block_t block;
    uint32_t cursor = 0, i;
    nmc_status_t status = nmc_find_section(image, NMC_SECTION_THERMAL, 0, &out->section);
    if (status != NMC_OK) {
        return status;
    }
    status = nmc_next_block(&out->section, &cursor, &block);
    if (status != NMC_OK || block.tag != NMC_TAG_THERMAL_EDGES || block.dtype != NMC_DTYPE_I32 || block.ndim != 1
        || block.count < 2u) {
        return NMC_ERR_BLOCK;
    }
    out->bands = block.count - 1u;
    out->edges = block.data;
    for (i = 0; i < out->bands; i++) {
        if (nmc_thermal_edge(out, i + 1u) <= nmc_thermal_edge(out, i)) {
            return NMC_ERR_BLOCK;
        }
    }
    status = nmc_next_block(&out->section, &cursor, &block);
    if (status != NMC_OK || block.tag != NMC_TAG_THERMAL_HYSTERESIS || block.dtype != NMC_DTYPE_U32 || block.ndim != 0) {
        return NMC_ERR_BLOCK;
    }
    out->hysteresis = rd32(block.data);
    return NMC_OK;
}

nmc_status_t nmc_thermal_thresholds(const nmc_thermal_t *thermal, uint32_t population, nmc_block_t *out)
{
    nmc_block_t block;
    uint32_t cursor = 0;
    int matched = 0;
    while (nmc_next_block(&thermal->section, &cursor, &block) == NMC_OK) {
        if (block.tag == NMC_TAG_THERMAL_POP) {
            matched = block.dtype == NMC_DTYPE_U32 && block.ndim == 0 && rd32(block.data) == population;
        } else if (block.tag == NMC_TAG_THERMAL_THRESHOLD && matched) {
            if (block.ndim != 2 || block.dim[0] != thermal->bands || dtype_size(block.dtype) == 0
                || block.dtype == NMC_DTYPE_UTF8 || block.dtype == NMC_DTYPE_F64) {
                return NMC_ERR_BLOCK;
            }
            *out = block;
            return NMC_OK;
        }
    }
    return NMC_ERR_NOT_FOUND;
}
