"""The business rules several functions share: capacity and holds, payments and refunds, the outbox, audit."""
