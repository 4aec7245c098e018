import { Controller, Get, Inject, Param, Post, Req, Res, UseFilters, UseGuards } from '@nestjs/common';
import { AccessDeniedFilter, RequireScope, ScopeGuard } from '@rein/auth';
import { IntakeSupervisor } from '@rein/intake';
import type { Request, Response } from 'express';

/**
 * Tracker intake over HTTP (docs/intake.md). The webhook is authenticated by its signature over
 * the raw body (a tracker sends no bearer token), so only the status route is behind ScopeGuard.
 */
@Controller('v1/intake')
export class IntakeHttpController {
  constructor(@Inject(IntakeSupervisor) private readonly intake: IntakeSupervisor) {}

  @Get()
  @UseGuards(ScopeGuard)
  @UseFilters(AccessDeniedFilter)
  @RequireScope('runs:read')
  status(): unknown {
    return this.intake.status();
  }

  @Post(':tracker/webhook')
  async webhook(@Param('tracker') tracker: string, @Req() req: Request, @Res() res: Response): Promise<void> {
    const raw = Buffer.isBuffer(req.body) ? req.body.toString('utf8') : '';
    const reply = await this.intake.webhook(tracker, raw, req.headers);
    res.status(reply.status).json(reply.body);
  }
}
