# The no-op job of bench-queue's Sidekiq peer, configured the way Sidekiq's users configure it: the Redis URL from
# the environment, logging at warn, redis-rb's deprecation warnings silenced. Loaded by each `sidekiq -r` process
# and by the producer (sidekiq_peer.rb).
require "sidekiq"

Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)

Sidekiq.configure_server do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
  config.logger.level = Logger::WARN
end

Sidekiq.configure_client do |config|
  config.redis = { url: ENV.fetch("REDIS_URL") }
end

# Does nothing: the benchmark measures the queue, not the work.
class NoopJob
  include Sidekiq::Worker

  def perform(_index); end
end
