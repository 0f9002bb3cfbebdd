/* Checks on what vq_pop gave, shared by the split and packed ring tests
 * (include after cmocka.h). */
#ifndef TEST_VQ_EXPECT_H
#define TEST_VQ_EXPECT_H

#include "virtq/virtq.h"

/* The chain's id, descriptor slots, iovec counts and byte counts. */
static inline void expect_chain(const struct vq_chain *c, uint16_t head, uint16_t ndesc,
                                uint16_t n_out, uint16_t n_in, uint32_t out_len, uint32_t in_len)
{
    assert_int_equal(c->head, head);
    assert_int_equal(c->ndesc, ndesc);
    assert_int_equal(c->n_out, n_out);
    assert_int_equal(c->n_in, n_in);
    assert_int_equal(c->out_len, out_len);
    assert_int_equal(c->in_len, in_len);
}

#endif
