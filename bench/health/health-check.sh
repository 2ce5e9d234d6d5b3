#!/bin/bash
# health-check.sh — verbatim from the operations guide (DEPLOYMENT_OPERATIONS.md, 2.3),
# the baseline `gymops health` replaces.

echo "=== 健康检查报告 $(date) ==="

# 检查Docker服务
if ! docker info >/dev/null 2>&1; then
    echo "❌ Docker服务异常"
    exit 1
fi

# 检查容器状态
if ! docker-compose ps | grep -q "Up"; then
    echo "❌ 部分服务未运行"
    docker-compose ps
    exit 1
fi

# 检查后端健康
if ! curl -f -s http://localhost:8080/springboot1ngh61a2/user/login >/dev/null; then
    echo "❌ 后端服务异常"
    exit 1
fi

# 检查数据库连接
if ! docker-compose exec -T postgres pg_isready -U postgres -d fitness_gym >/dev/null; then
    echo "❌ 数据库连接异常"
    exit 1
fi

echo "✅ 所有服务正常"
