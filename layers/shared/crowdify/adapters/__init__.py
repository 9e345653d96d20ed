"""One module per outside service (MercadoPago, SQS, SendGrid, Supabase): client set-up, timeouts, errors."""
